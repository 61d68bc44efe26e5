// Landlock rows (Documentation/userspace-api/landlock.rst; landlock_create_ruleset(2),
// landlock_add_rule(2), landlock_restrict_self(2)). Every ruleset is enforced in a child of the
// test (enforcement is irreversible for the thread), with no_new_privs and no privilege needed.
// Root is not exempt from Landlock, so when the suite runs as root an EACCES here can only be
// Landlock's, never a file mode's.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ckc_test.h"
#include "landlock_rules.h"
#include "mounts.h"
#include "seccomp_filter.h"

namespace ckc::test {
namespace {

// Landlock serving rulesets: ENOSYS = not built in, EOPNOTSUPP = built in but not enabled
// (absent from lsm= at boot) — landlock_create_ruleset(2).
Requirement LandlockActive() {
  return {[]() -> std::optional<std::string> {
    auto abi = landlock::AbiVersion();
    if (abi) return std::nullopt;
    if (abi.error().err == ENOSYS) return "kernel:landlock (" + abi.error().Message() + ")";
    if (abi.error().err == EOPNOTSUPP)
      return "lsm:landlock-inactive (" + abi.error().Message() + ")";
    return std::nullopt;  // anything else is for the row to see
  }};
}

struct Tree {
  std::string inside, outside;
};

// inside/{file,sub/} and outside/file under the test's directory.
Result<Tree> MakeTree() {
  Tree t{TestDir() + "/inside", TestDir() + "/outside"};
  CKC_CHECK(MakeDirs(t.inside + "/sub"));
  CKC_CHECK(MakeDirs(t.outside));
  CKC_CHECK(WriteFileAtomic(t.inside + "/file", "in"));
  CKC_CHECK(WriteFileAtomic(t.outside + "/file", "out"));
  return t;
}

std::string OpenOutcome(const std::string& path, int flags, mode_t mode = 0) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  std::string out = Outcome(fd);
  if (fd >= 0) ::close(fd);
  return out;
}

// Grants `allowed` beneath `dir` in `ruleset`.
Status Allow(const UniqueFd& ruleset, const std::string& dir, uint64_t allowed) {
  CKC_TRY(fd, OpenFile(dir, O_PATH | O_DIRECTORY));
  return landlock::AddPathBeneath(ruleset, fd.get(), allowed);
}

Status Enforce(const UniqueFd& ruleset) {
  CKC_CHECK(SetNoNewPrivs());
  return landlock::RestrictSelf(ruleset);
}

constexpr uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
constexpr uint64_t kWrite =
    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REMOVE_FILE;

// Source: landlock.rst "Filesystem flags" and "Inheritance" (a ruleset is enforced on the thread
// and every child it creates afterwards); landlock_restrict_self(2) (no_new_privs or
// CAP_SYS_ADMIN). Negative control: booted with lsm= without landlock the row skips
// lsm:landlock-inactive; a rule granting kWrite beneath inside/ makes the write checks fail.
TEST(Landlock, FsRestrict) {
  CKC_BEHAVIOUR("landlock.fs-restrict", "K",
                "a process that sets no_new_privs and restricts itself to reading beneath one "
                "directory gets EACCES for writes there and for any access elsewhere, and so do "
                "the children it makes afterwards",
                "5.13");
  CKC_REQUIRE(LandlockActive());
  ASSERT_OK_AND_ASSIGN(Tree t, MakeTree());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInChild([&t](Channel& ch) {
        Observe(ch, "outside-before", OpenOutcome(t.outside + "/file", O_RDONLY));
        CKC_CHILD_TRY(rs, landlock::CreateRuleset(kRead | kWrite));
        CKC_CHILD_CHECK(Allow(rs, t.inside, kRead));
        CKC_CHILD_CHECK(Enforce(rs));
        Observe(ch, "read-inside", OpenOutcome(t.inside + "/file", O_RDONLY));
        Observe(ch, "list-inside", OpenOutcome(t.inside + "/sub", O_RDONLY | O_DIRECTORY));
        Observe(ch, "write-inside", OpenOutcome(t.inside + "/file", O_WRONLY));
        Observe(ch, "create-inside", OpenOutcome(t.inside + "/new", O_WRONLY | O_CREAT, 0644));
        Observe(ch, "read-outside", OpenOutcome(t.outside + "/file", O_RDONLY));
        pid_t pid = ::fork();
        if (pid == 0)
          _exit(::open((t.outside + "/file").c_str(), O_RDONLY) < 0 && errno == EACCES ? 0 : 1);
        int status = 0;
        if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return ReportErrno(ch, "setup: fork", 2);
        Observe(ch, "child-read-outside",
                WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "!EACCES" : "ok");
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  CKC_ASSERT_SETUP(seen["outside-before"] == "ok")
      << "the outside file must be readable unconfined: " << seen["outside-before"];
  EXPECT_EQ(seen["read-inside"], "ok") << "reading beneath the allowed directory";
  EXPECT_EQ(seen["list-inside"], "ok") << "listing beneath the allowed directory";
  EXPECT_EQ(seen["write-inside"], "!EACCES")
      << "opening a file for writing where only reads are allowed";
  EXPECT_EQ(seen["create-inside"], "!EACCES") << "creating a file where only reads are allowed";
  EXPECT_EQ(seen["read-outside"], "!EACCES") << "reading outside the allowed directory";
  EXPECT_EQ(seen["child-read-outside"], "!EACCES") << "a child made after restrict_self";
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A TCP port nothing listens on right now (the kernel's pick, released at once).
Result<uint16_t> FreePort() {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return ErrnoError("socket", "AF_INET");
  sockaddr_in a = Loopback(0);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return ErrnoError("bind", "127.0.0.1:0");
  }
  socklen_t len = sizeof a;
  if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return ErrnoError("getsockname");
  }
  return ntohs(a.sin_port);
}

std::string BindOutcome(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Outcome(s);
  sockaddr_in a = Loopback(port);
  std::string out = Outcome(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
  ::close(s);
  return out;
}

// In a child: the rights of one ABI level, each with a control that the same operation works
// when the right is granted.
int CheckAbiRights(Channel& ch, const Tree& t, int abi, uint16_t allowed_port,
                   uint16_t denied_port) {
  uint64_t fs = landlock::kAbi1FsRights | (abi >= 2 ? LANDLOCK_ACCESS_FS_REFER : 0) |
                (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
  uint64_t net = abi >= 4 ? LANDLOCK_ACCESS_NET_BIND_TCP : 0;
  CKC_CHILD_TRY(rs, net ? landlock::CreateRuleset(fs, net) : landlock::CreateRuleset(fs));
  // Everything but REFER and TRUNCATE beneath inside/ (so the rename across its directories and
  // the truncation are refused by those rights alone); all of it beneath outside/.
  uint64_t granted = fs & ~(LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE);
  CKC_CHILD_CHECK(Allow(rs, t.inside, granted));
  CKC_CHILD_CHECK(Allow(rs, t.outside, fs));
  if (net) CKC_CHILD_CHECK(landlock::AddNetPort(rs, LANDLOCK_ACCESS_NET_BIND_TCP, allowed_port));
  CKC_CHILD_CHECK(Enforce(rs));
  Observe(ch, "exec-read", OpenOutcome(t.inside + "/file", O_RDONLY));
  if (abi >= 2) {
    Observe(ch, "refer-denied",
            Outcome(::rename((t.inside + "/file").c_str(), (t.inside + "/sub/file").c_str())));
    CKC_CHILD_CHECK(WriteFileAtomic(t.outside + "/a", "a"));
    CKC_CHILD_CHECK(MakeDirs(t.outside + "/d"));
    Observe(ch, "refer-granted",
            Outcome(::rename((t.outside + "/a").c_str(), (t.outside + "/d/a").c_str())));
  }
  if (abi >= 3) {
    Observe(ch, "truncate-denied", Outcome(::truncate((t.inside + "/file").c_str(), 0)));
    Observe(ch, "truncate-granted", Outcome(::truncate((t.outside + "/file").c_str(), 0)));
  }
  if (abi >= 4) {
    Observe(ch, "bind-granted", BindOutcome(allowed_port));
    Observe(ch, "bind-denied", BindOutcome(denied_port));
  }
  return 0;
}

// Source: landlock.rst "Landlock ABI versions", "Previous limitations" (file renaming and
// linking: REFER, ABI 2, EXDEV; file truncation: TRUNCATE, ABI 3) and "Network flags" (TCP bind
// and connect, ABI 4); landlock_create_ruleset(2) LANDLOCK_CREATE_RULESET_VERSION.
// Negative control: booted with lsm= without landlock the row skips lsm:landlock-inactive;
// granting REFER/TRUNCATE beneath inside/, or a rule for the denied port, makes it fail.
TEST(Landlock, Abi) {
  CKC_BEHAVIOUR(
      "landlock.abi", "K",
      "landlock_create_ruleset() with the VERSION flag names the ABI, and each right that "
      "ABI adds is enforced: refer (2) makes a rename across directories fail with "
      "EXDEV, truncate (3) refuses truncate() with EACCES, TCP bind (4) refuses a port "
      "without a rule",
      "5.13");
  CKC_REQUIRE(LandlockActive());
  ASSERT_OK_AND_ASSIGN(int abi, landlock::AbiVersion());
  RecordProperty("landlock_abi", abi);
  EXPECT_GE(abi, 1) << "an active Landlock answers with its ABI version";
  ASSERT_OK_AND_ASSIGN(Tree t, MakeTree());
  ASSERT_OK_AND_ASSIGN(uint16_t allowed_port, FreePort());
  ASSERT_OK_AND_ASSIGN(uint16_t denied_port, FreePort());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         return CheckAbiRights(ch, t, abi, allowed_port, denied_port);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["exec-read"], "ok") << "a granted right still works under the ruleset";
  if (abi >= 2) {
    EXPECT_EQ(seen["refer-denied"], "!EXDEV") << "rename across directories without REFER";
    EXPECT_EQ(seen["refer-granted"], "ok") << "rename across directories with REFER";
  }
  if (abi >= 3) {
    EXPECT_EQ(seen["truncate-denied"], "!EACCES") << "truncate() without TRUNCATE";
    EXPECT_EQ(seen["truncate-granted"], "ok") << "truncate() with TRUNCATE";
  }
  if (abi >= 4 && allowed_port != denied_port) {
    EXPECT_EQ(seen["bind-granted"], "ok") << "bind() to the port a rule allows";
    EXPECT_EQ(seen["bind-denied"], "!EACCES") << "bind() to a port no rule allows";
  }
}

// In a child: layer 1 reads beneath inside/ and outside/, layer 2 narrows to inside/, layer 3
// grants outside/ again (which cannot widen); then layers up to the limit, and one more.
int StackLayers(Channel& ch, const Tree& t) {
  auto layer = [&](std::initializer_list<const std::string*> dirs) -> Status {
    CKC_TRY(rs, landlock::CreateRuleset(kRead));
    for (const std::string* dir : dirs) CKC_CHECK(Allow(rs, *dir, kRead));
    return Enforce(rs);
  };
  CKC_CHILD_CHECK(layer({&t.inside, &t.outside}));
  Observe(ch, "l1-outside", OpenOutcome(t.outside + "/file", O_RDONLY));
  CKC_CHILD_CHECK(layer({&t.inside}));
  Observe(ch, "l2-outside", OpenOutcome(t.outside + "/file", O_RDONLY));
  Observe(ch, "l2-inside", OpenOutcome(t.inside + "/file", O_RDONLY));
  CKC_CHILD_CHECK(layer({&t.inside, &t.outside}));
  Observe(ch, "l3-outside", OpenOutcome(t.outside + "/file", O_RDONLY));
  int layers = 3;
  std::string last = "ok";
  while (layers <= landlock::kMaxLayers && last == "ok") {
    CKC_CHILD_TRY(rs, landlock::CreateRuleset(kRead));
    CKC_CHILD_CHECK(Allow(rs, t.inside, kRead));
    auto st = landlock::RestrictSelf(rs);
    last = st ? "ok" : "!" + std::string(ErrnoName(st.error().err));
    if (st) ++layers;
  }
  Observe(ch, "layers", fmt::format("{}", layers));
  Observe(ch, "one-more", last);
  return 0;
}

// Source: landlock.rst "Layers of file path access rights" (each new layer can only restrict
// further) and landlock_restrict_self(2) E2BIG ("the maximum number of stacked rulesets is
// reached for the calling thread", 16). Negative control: booted with lsm= without landlock the
// row skips lsm:landlock-inactive; a kernel with another layer limit fails the count.
TEST(Landlock, Layers) {
  CKC_BEHAVIOUR("landlock.layers", "K",
                "rulesets stack on a thread: each further layer can only narrow access (a later "
                "rule cannot give back what an earlier layer took), and the 17th layer is "
                "refused with E2BIG",
                "5.13");
  CKC_REQUIRE(LandlockActive());
  ASSERT_OK_AND_ASSIGN(Tree t, MakeTree());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&t](Channel& ch) { return StackLayers(ch, t); }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["l1-outside"], "ok") << "layer 1 grants reads beneath outside/";
  EXPECT_EQ(seen["l2-outside"], "!EACCES") << "layer 2 narrows reads to inside/";
  EXPECT_EQ(seen["l2-inside"], "ok") << "inside/ stays readable under both layers";
  EXPECT_EQ(seen["l3-outside"], "!EACCES") << "layer 3 cannot widen what layer 2 took";
  EXPECT_EQ(seen["layers"], fmt::format("{}", landlock::kMaxLayers)) << "layers enforced";
  EXPECT_EQ(seen["one-more"], "!E2BIG") << "restrict_self beyond the stacking limit";
}

}  // namespace
}  // namespace ckc::test
