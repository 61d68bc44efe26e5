// Capability rows (seed D "Security features": "Some capabilities", "Using capabilities";
// capabilities(7)). Each row works in a child so the test binary keeps its privileges, and
// each checks the call both with the capability (control) and without it.
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "capabilities.h"
#include "ckc_test.h"
#include "mounts.h"
#include "security_support.h"

namespace ckc::test {
namespace {

constexpr int kHelperEacces = 10;  // ckc-security-helper bind: EACCES

// Makes `path` (owner `uid`, `mode`) as root in the parent, before the child runs.
Status MakeFile(const std::string& path, uid_t uid, mode_t mode) {
  CKC_TRY(fd, OpenFile(path, O_CREAT | O_WRONLY | O_TRUNC, 0644));
  if (::fchown(fd.get(), uid, uid) != 0) return ErrnoError("fchown", path);
  if (::fchmod(fd.get(), mode) != 0) return ErrnoError("fchmod", path);
  return {};
}

// The helper's exit status when it runs as uid 65534 with CAP_NET_BIND_SERVICE in P, I and E
// before the execve, and (if `ambient`) in the ambient set too.
Result<ChildResult> BindAsNobody(int helper_fd, bool ambient) {
  return RunInChild(
      [&](Channel& ch) {
        CKC_CHILD_CHECK(SwitchUser(kNobody, kNobody, /*keep_caps=*/true));
        CKC_CHILD_CHECK(SetCapabilities({CAP_NET_BIND_SERVICE}));
        if (ambient) CKC_CHILD_CHECK(RaiseAmbient(CAP_NET_BIND_SERVICE));
        return ExecHelper(helper_fd, {"bind", "80"});
      },
      CLONE_NEWNET);
}

TEST(Capability, NetBindService) {
  // Source: D "Some capabilities" (CAP_NET_BIND_SERVICE: bind a port below 1024);
  // capabilities(7) "Ambient capability set". Ports are bound in a fresh net namespace.
  CKC_BEHAVIOUR("cap.net-bind-service", "D",
                "binding a port under 1024 is refused with EACCES without CAP_NET_BIND_SERVICE and "
                "allowed with it, also for a non-root user that holds it as an ambient capability");
  CKC_REQUIRE(Root(), NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET));
  ASSERT_OK_AND_ASSIGN(UniqueFd helper, OpenHelper());
  ASSERT_OK_AND_ASSIGN(ChildResult r,
                       RunInChild(
                           [&](Channel& ch) {
                             Observe(ch, "with", BindOutcome(80));
                             CKC_CHILD_CHECK(DropCapabilities({CAP_NET_BIND_SERVICE}));
                             Observe(ch, "without", BindOutcome(81));
                             return 0;
                           },
                           CLONE_NEWNET));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["with"], "ok") << "root with CAP_NET_BIND_SERVICE binding port 80";
  EXPECT_EQ(seen["without"], "!EACCES") << "root without CAP_NET_BIND_SERVICE binding port 81";
  ASSERT_OK_AND_ASSIGN(ChildResult plain, BindAsNobody(helper.get(), false));
  ASSERT_OK_AND_ASSIGN(ChildResult amb, BindAsNobody(helper.get(), true));
  EXPECT_TRUE(plain.status.Exited(kHelperEacces))
      << "uid 65534 without an ambient capability: expected the helper's bind to fail with EACCES "
         "(exit 10), "
      << plain.Describe();
  EXPECT_TRUE(amb.status.Exited(0))
      << "uid 65534 with CAP_NET_BIND_SERVICE ambient: expected bind to port 80 to work (exit 0), "
      << amb.Describe();
}

TEST(Capability, Chown) {
  // Source: D "Some capabilities" (CAP_CHOWN); chown(2) EPERM, capabilities(7).
  CKC_BEHAVIOUR("cap.chown", "D",
                "a process without CAP_CHOWN cannot hand a file to another owner: chown() fails "
                "with EPERM");
  CKC_REQUIRE(Root());
  std::string file = TestDir() + "/owned";
  ASSERT_OK(MakeFile(file, 0, 0644));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         Observe(ch, "with", Outcome(::chown(file.c_str(), 4242, -1)));
                         Observe(ch, "back", Outcome(::chown(file.c_str(), 0, -1)));
                         CKC_CHILD_CHECK(DropCapabilities({CAP_CHOWN}));
                         Observe(ch, "without", Outcome(::chown(file.c_str(), 4243, -1)));
                         struct stat st {};
                         ::stat(file.c_str(), &st);
                         Observe(ch, "owner", std::to_string(st.st_uid));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["with"], "ok") << "control: chown with CAP_CHOWN";
  EXPECT_EQ(seen["back"], "ok");
  EXPECT_EQ(seen["without"], "!EPERM") << "chown to another owner without CAP_CHOWN";
  EXPECT_EQ(seen["owner"], "0") << "the owner must not have changed";
}

TEST(Capability, DacOverride) {
  // Source: D "Some capabilities" (CAP_DAC_OVERRIDE: bypass file ownership and permissions);
  // capabilities(7) CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH.
  CKC_BEHAVIOUR("cap.dac-override", "D",
                "root that has given up CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH gets EACCES when "
                "opening another user's file of mode 0000");
  CKC_REQUIRE(Root());
  std::string file = TestDir() + "/secret";
  ASSERT_OK(MakeFile(file, 4242, 0000));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         UniqueFd a(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
                         Observe(ch, "with", Outcome(a.get()));
                         CKC_CHILD_CHECK(DropCapabilities({CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}));
                         UniqueFd b(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
                         Observe(ch, "without", Outcome(b.get()));
                         Observe(ch, "uid", std::to_string(::geteuid()));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["with"], "ok")
      << "control: root with CAP_DAC_OVERRIDE reads a 0000 file of uid 4242";
  EXPECT_EQ(seen["uid"], "0");
  EXPECT_EQ(seen["without"], "!EACCES") << "root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH";
}

// SIOCSIFFLAGS on lo: the oldest way to configure an interface.
std::string SetLoopbackUp(bool up) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return Outcome(-1);
  struct ifreq ifr {};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return "!get:" + ErrnoName(errno);
  ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
  return Outcome(::ioctl(s.get(), SIOCSIFFLAGS, &ifr));
}

TEST(Capability, NetAdmin) {
  // Source: D "Some capabilities" (CAP_NET_ADMIN: configure network interfaces); netdevice(7)
  // SIOCSIFFLAGS needs CAP_NET_ADMIN in the net namespace's user namespace.
  CKC_BEHAVIOUR("cap.net-admin", "D",
                "without CAP_NET_ADMIN, changing an interface's settings in the process's own net "
                "namespace fails with EPERM");
  CKC_REQUIRE(Root(), NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild(
                                          [&](Channel& ch) {
                                            Observe(ch, "with", SetLoopbackUp(true));
                                            CKC_CHILD_CHECK(DropCapabilities({CAP_NET_ADMIN}));
                                            Observe(ch, "without", SetLoopbackUp(false));
                                            return 0;
                                          },
                                          CLONE_NEWNET));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["with"], "ok")
      << "control: bring lo up in the child's own netns with CAP_NET_ADMIN";
  EXPECT_EQ(seen["without"], "!EPERM") << "bring lo down without CAP_NET_ADMIN";
}

TEST(Capability, SysAdminMount) {
  // Source: D "Some capabilities" (mounting file systems); mount(2) EPERM, capabilities(7)
  // CAP_SYS_ADMIN. Mounts happen in the child's private mount namespace.
  CKC_BEHAVIOUR("cap.sys-admin-mount", "D",
                "a process lacking CAP_SYS_ADMIN is refused mount() with EPERM");
  CKC_REQUIRE(Root(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS));
  std::string dir = TestDir() + "/mnt";
  ASSERT_OK(MakeDirs(dir));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInChild(
          [&](Channel& ch) {
            CKC_CHILD_CHECK(MakeRootPrivate());
            Observe(ch, "with", Outcome(::mount("tmpfs", dir.c_str(), "tmpfs", 0, nullptr)));
            ::umount2(dir.c_str(), MNT_DETACH);
            CKC_CHILD_CHECK(DropCapabilities({CAP_SYS_ADMIN}));
            Observe(ch, "without", Outcome(::mount("tmpfs", dir.c_str(), "tmpfs", 0, nullptr)));
            return 0;
          },
          CLONE_NEWNS));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["with"], "ok") << "control: mount tmpfs with CAP_SYS_ADMIN";
  EXPECT_EQ(seen["without"], "!EPERM") << "mount tmpfs without CAP_SYS_ADMIN";
}

// In a child of the row's child: optionally drop CAP_NET_BIND_SERVICE from the bounding set,
// become uid 65534 (no capabilities kept) and exec the helper that carries the file capability.
std::string ExecFileCapHelper(int helper_fd, bool drop_bounding) {
  auto child = Spawn({}, [&] {
    if (drop_bounding && !DropBounding(CAP_NET_BIND_SERVICE)) return 120;
    if (!SwitchUser(kNobody, kNobody, false)) return 121;
    return ExecHelper(helper_fd, {"bind", "80"});
  });
  if (!child) return "!spawn";
  auto st = child->Wait(10s);
  return st ? st->Describe() : "!wait";
}

TEST(Capability, BoundingSet) {
  // Source: capabilities(7) "Capability bounding set" and "Transformation of capabilities
  // during execve()": P' = (P(inheritable) & F(inheritable)) | (F(permitted) & P(bounding)).
  // A copy of the helper carries cap_net_bind_service=p; the helper raises it into E itself.
  CKC_BEHAVIOUR("cap.bounding-set", "D",
                "once a capability is dropped from the bounding set, executing a file that carries "
                "it as a file capability does not give it back");
  CKC_REQUIRE(Root(), NamespaceType(NsType::kNet), NamespaceType(NsType::kMnt),
              NamespaceQuota(CLONE_NEWNS | CLONE_NEWNET));
  std::string bin = TestDir() + "/bin";
  ASSERT_OK(MakeDirs(bin));
  ASSERT_OK_AND_ASSIGN(std::string image, ReadFile(HelperPath()));
  ASSERT_OK_AND_ASSIGN(ChildResult r,
                       RunInChild(
                           [&](Channel& ch) {
                             // A tmpfs of the child's own: no nosuid (which would ignore file
                             // capabilities) and security.capability xattrs whatever the host's
                             // /tmp is.
                             CKC_CHILD_CHECK(MakeRootPrivate());
                             CKC_CHILD_TRY(mnt, MountTmpfs(bin, "mode=0755"));
                             std::string copy = bin + "/helper";
                             CKC_CHILD_TRY(out, OpenFile(copy, O_CREAT | O_WRONLY, 0755));
                             if (::write(out.get(), image.data(), image.size()) !=
                                 static_cast<ssize_t>(image.size())) {
                               return ReportErrno(ch, "setup: write helper copy", 2);
                             }
                             out.Reset();
                             CKC_CHILD_CHECK(SetFileCapabilities(copy, "cap_net_bind_service=p"));
                             Observe(ch, "filecaps", FileCapabilities(copy).value_or("?"));
                             CKC_CHILD_TRY(fd, OpenFile(copy, O_PATH));
                             Observe(ch, "kept", ExecFileCapHelper(fd.get(), false));
                             Observe(ch, "dropped", ExecFileCapHelper(fd.get(), true));
                             return 0;
                           },
                           CLONE_NEWNS | CLONE_NEWNET));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["filecaps"], "cap_net_bind_service=p");
  EXPECT_EQ(seen["kept"], "exited with 0")
      << "control: uid 65534 exec of the file-capability helper binds port 80";
  EXPECT_EQ(seen["dropped"], fmt::format("exited with {}", kHelperEacces))
      << "after PR_CAPBSET_DROP the exec must not grant CAP_NET_BIND_SERVICE (bind EACCES = exit "
         "10)";
}

TEST(Capability, AmbientExec) {
  // Source: D "Using capabilities" ("read about ambient capabilities"); capabilities(7)
  // "Ambient capability set": preserved across execve() of a program that is not privileged.
  CKC_BEHAVIOUR("cap.ambient-exec", "D",
                "a capability raised in the ambient set is kept across execve() of a program that "
                "is not privileged, where a merely permitted one is lost");
  CKC_REQUIRE(Root());
  ASSERT_OK_AND_ASSIGN(UniqueFd helper, OpenHelper());
  auto run = [&](bool ambient) {
    return RunInChild([&](Channel& ch) {
      CKC_CHILD_CHECK(SwitchUser(kNobody, kNobody, /*keep_caps=*/true));
      CKC_CHILD_CHECK(SetCapabilities({CAP_NET_BIND_SERVICE}));
      if (ambient) CKC_CHILD_CHECK(RaiseAmbient(CAP_NET_BIND_SERVICE));
      return ExecHelper(helper.get(), {"has-ambient", std::to_string(CAP_NET_BIND_SERVICE)});
    });
  };
  ASSERT_OK_AND_ASSIGN(ChildResult without, run(false));
  ASSERT_OK_AND_ASSIGN(ChildResult with, run(true));
  EXPECT_TRUE(without.status.Exited(1)) << "control: uid 65534 with the capability only in P/I/E "
                                           "loses it at execve (expected exit 1), "
                                        << without.Describe();
  EXPECT_TRUE(with.status.Exited(0))
      << "ambient CAP_NET_BIND_SERVICE must be in CapAmb, CapPrm and CapEff after execve (exit 0), "
      << with.Describe();
}

}  // namespace
}  // namespace ckc::test
