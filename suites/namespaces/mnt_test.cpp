// Mount namespaces: private mounts, teardown with the namespace, propagation, own root file
// system, masked paths and read-only binds. Every mount is made inside a sandbox's own mount
// namespace (Sandbox makes / rprivate first), so the host's mount table never changes.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <filesystem>
#include <sstream>

#include "mounts.h"
#include "namespaces.h"
#include "ns_support.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;

// Names in a directory other than . and ..; -1 if it cannot be read.
int Entries(const std::string& dir) {
  std::error_code ec;
  int n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

// Reports key=ok or key=<ERRNO> for creating (or opening for writing) `path`.
void PutCreate(Channel& ch, std::string_view key, const std::string& path, int flags = O_CREAT) {
  int fd = ::open(path.c_str(), flags | O_WRONLY | O_CLOEXEC, 0644);
  PutCall(ch, key, fd);
  if (fd >= 0) ::close(fd);
}

// Source: D "Setting up a private /tmp" (mount -t tmpfs none /tmp in a new mount namespace; check
// the content of /tmp in the new namespace and compare to the host); mount_namespaces(7).
// Negative control: user.max_user_namespaces=0 skips non-root; a shared / leaks the tmpfs: fails.
TEST(MountNamespace, PrivateTmpfs) {
  CKC_BEHAVIOUR("mnt.private-tmpfs", "D",
                "a tmpfs mounted over /tmp inside a new mount namespace, and the files made on it, "
                "cannot be seen from the parent namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS));
  std::string marker = fmt::format("/tmp/ckc-private-tmpfs-{}", ::getpid());
  CKC_ASSERT_SETUP(!fs::exists(marker)) << "no " << marker << " on the host yet; it exists";
  int host_entries = Entries("/tmp");
  auto box = Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS).Then("tmpfs on /tmp", [] {
    return Keep(MountTmpfs("/tmp", "size=1m"));
  });
  ASSERT_OK_AND_ASSIGN(Sandboxed child, box.Run([&](Channel& ch) {
    Put(ch, "entries-before", fmt::format("{}", Entries("/tmp")));
    PutCreate(ch, "create", marker);
    Put(ch, "sees-marker", YesNo(fs::exists(marker)));
    return ch.Expect("go") ? 0 : 1;
  }));
  ASSERT_OK_AND_ASSIGN(std::string before, child.channel.Recv());
  ASSERT_OK_AND_ASSIGN(std::string create, child.channel.Recv());
  ASSERT_OK_AND_ASSIGN(std::string sees, child.channel.Recv());
  EXPECT_EQ(before, "entries-before=0")
      << "expected an empty /tmp in the new namespace (the host's "
      << "has " << host_entries << " entries)";
  EXPECT_EQ(create, "create=ok");
  EXPECT_EQ(sees, "sees-marker=yes");
  EXPECT_FALSE(fs::exists(marker)) << "expected " << marker << " (made on the child's tmpfs) to be "
                                   << "invisible to the parent";
  EXPECT_EQ(Entries("/tmp"), host_entries) << "expected the parent's /tmp unchanged";
  ASSERT_OK(child.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.child.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

// Source: D "Setting up a private /tmp" (the mount is automatically cleaned up when you exit the
// process); mount_namespaces(7) (a mount namespace is torn down with its last member).
// Negative control: a bind of the child's ns/mnt kept elsewhere keeps the tmpfs mounted: fails.
TEST(MountNamespace, CleanupOnExit) {
  CKC_BEHAVIOUR("mnt.cleanup-on-exit", "D",
                "mounts made inside a mount namespace are taken down when the last process in that "
                "namespace exits");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS));
  std::string dir = TestDir() + "/m";
  ASSERT_OK(MakeDirs(dir));
  auto box = Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS).Then("tmpfs", [&]() -> Status {
    CKC_TRY(m, MountTmpfs(dir, "size=1m"));
    m.Release();
    return WriteFileAtomic(dir + "/on-tmpfs", "x");
  });
  ASSERT_OK_AND_ASSIGN(Sandboxed child,
                       box.Run([](Channel& ch) { return ch.Expect("go") ? 0 : 1; }));
  // Watch a file on the child's tmpfs through its root: the watch holds no mount.
  std::string file = fmt::format("/proc/{}/root{}/on-tmpfs", child.child.pid(), dir);
  ASSERT_OK_AND_ASSIGN(UnmountWatch watch, UnmountWatch::Create(file));
  EXPECT_FALSE(fs::exists(dir + "/on-tmpfs")) << "the child's tmpfs leaked into the parent";
  ASSERT_OK_AND_ASSIGN(bool early, watch.WaitUnmounted(std::chrono::milliseconds(0)));
  ASSERT_FALSE(early) << "expected the tmpfs to stay mounted while its namespace's process lives; "
                         "it was unmounted before that process exited";
  ASSERT_OK(child.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.child.Wait(std::chrono::seconds(10)));
  CKC_ASSERT_SETUP(st.Exited(0)) << "the namespace's process exits 0 once told; it "
                                 << st.Describe();
  ASSERT_OK_AND_ASSIGN(bool gone, watch.WaitUnmounted(std::chrono::seconds(20)));
  EXPECT_TRUE(gone) << "expected the tmpfs mounted in the namespace to be unmounted (IN_UNMOUNT) "
                       "within 20 s of its last process exiting; it was not";
}

// The propagation types of the matrix (unbindable is mnt.unbindable's), each a tmpfs of its own
// under the sandbox's `base`.
constexpr std::array<const char*, 3> kPropagationKinds = {"shared", "slave", "private"};

// In namespace A (a sandbox's, / rprivate): `base` a private tmpfs holding one tmpfs per kind,
// shared/ and slave/ marked shared, private/ private, each with empty from-a/ and from-b/.
Status PropagationTree(const std::string& base) {
  CKC_CHECK(Keep(MountTmpfs(base, "size=1m")));
  CKC_CHECK(SetPropagation(base, Propagation::kPrivate));
  for (std::string kind : kPropagationKinds) {
    std::string dir = base + "/" + kind;
    CKC_CHECK(MakeDirs(dir));
    CKC_CHECK(Keep(MountTmpfs(dir, "size=64k")));
    CKC_CHECK(MakeDirs(dir + "/from-a"));
    CKC_CHECK(MakeDirs(dir + "/from-b"));
    CKC_CHECK(
        SetPropagation(dir, kind == "private" ? Propagation::kPrivate : Propagation::kShared));
  }
  return {};
}

// Mounts a small tmpfs on <base>/<kind>/<sub> for every kind.
Status MountUnderEach(const std::string& base, const char* sub) {
  for (std::string kind : kPropagationKinds)
    CKC_CHECK(Keep(MountTmpfs(fmt::format("{}/{}/{}", base, kind, sub), "size=4k")));
  return {};
}

// Reports <kind>:<key>=yes|no: is <base>/<kind>/<sub> a mount point in the caller's namespace.
void PutMounted(Channel& ch, const std::string& base, const char* sub, const char* key) {
  for (std::string kind : kPropagationKinds)
    Put(ch, fmt::format("{}:{}", kind, key),
        YesNo(IsMountPoint(fmt::format("{}/{}/{}", base, kind, sub))));
}

// Namespace B, copied from A by clone(CLONE_NEWNS) in the same user namespace (so shared stays
// shared: mount_namespaces(7) demotes it only for a less privileged copy); its slave/ is made a
// slave of A's. Each side mounts under from-a/ or from-b/ in turn and reports what it sees.
int PropagationAcross(Channel& ch, const std::string& base) {
  CKC_CHILD_TRY(inner, Channel::Create());
  auto b = Spawn({.flags = CLONE_NEWNS}, [&] {
    inner.BecomeChild();
    auto fail = [&](const Error& e) { return Report(inner, "setup: " + e.Message(), 2); };
    if (auto st = SetPropagation(base + "/slave", Propagation::kSlave); !st)
      return fail(st.error());
    auto mine = NsIdOf(::getpid(), NsType::kMnt), theirs = NsIdOf(::getppid(), NsType::kMnt);
    Put(ch, "b-own-namespace", YesNo(mine && theirs && *mine != *theirs));
    if (!inner.Send("ready") || !inner.Expect("a-mounted")) return 1;
    PutMounted(ch, base, "from-a", "a->b");
    if (auto st = MountUnderEach(base, "from-b"); !st) return fail(st.error());
    PutMounted(ch, base, "from-b", "b-own");
    return inner.Send("b-mounted") && inner.Expect("exit") ? 0 : 1;
  });
  if (!b) return Report(ch, "setup: " + b.error().Message(), 2);
  inner.BecomeParent();
  CKC_CHILD_TRY(ready, inner.Recv());
  if (ready != "ready") return Report(ch, "setup: namespace B: " + ready, 2);
  CKC_CHILD_CHECK(MountUnderEach(base, "from-a"));
  PutMounted(ch, base, "from-a", "a-own");
  CKC_CHILD_CHECK(inner.Send("a-mounted"));
  CKC_CHILD_TRY(mounted, inner.Recv());
  if (mounted != "b-mounted") return Report(ch, "setup: namespace B: " + mounted, 2);
  PutMounted(ch, base, "from-b", "b->a");
  (void)inner.Send("exit");
  auto st = b->Wait(std::chrono::seconds(10));
  return st && st->Exited(0)
             ? 0
             : Report(ch, "setup: namespace B: " + (st ? st->Describe() : st.error().Message()), 2);
}

// Source: D "Mnt namespace" (mounts can be totally private, or shared); kernel
// Documentation/filesystems/sharedsubtree.rst (shared, slave, private); mount_namespaces(7)
// "Shared subtrees" (a new namespace's copies of shared mounts are peers of the originals).
// Negative control: shared/ made private in A (or slave/ private in B) fails a->b and b->a.
TEST(MountNamespace, Propagation) {
  CKC_BEHAVIOUR("mnt.propagation", "D",
                "across two mount namespaces a mount under a shared mount appears in the peer "
                "copy either way, one under a master reaches its slave but never back, and one "
                "under a private mount stays where it was made");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/prop";
  ASSERT_OK(MakeDirs(base));
  ASSERT_OK_AND_ASSIGN(ChildResult r,
                       RunInSandbox(Sandbox()
                                        .UserNsUnlessRoot()
                                        .Namespaces(CLONE_NEWNS)
                                        .Then("tree", [&] { return PropagationTree(base); }),
                                    [&](Channel& ch) { return PropagationAcross(ch, base); }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  CKC_ASSERT_SETUP(Value(r, "b-own-namespace") == "yes") << "B has a mount namespace of its own";
  for (const char* kind : kPropagationKinds) {
    for (const char* own : {"a-own", "b-own"}) {
      CKC_ASSERT_SETUP(Value(r, fmt::format("{}:{}", kind, own)) == "yes")
          << kind << ": the mount is there where it was made (" << own << ")";
    }
  }
  const std::pair<const char*, const char*> expected[] = {
      {"shared:a->b", "yes"}, {"shared:b->a", "yes"}, {"slave:a->b", "yes"},
      {"slave:b->a", "no"},   {"private:a->b", "no"}, {"private:b->a", "no"},
  };
  for (auto [key, want] : expected) {
    EXPECT_EQ(Value(r, key), want) << "a mount made in one namespace, seen from the other (" << key
                                   << "; is it a mount point there?)";
  }
}

// pivot_root(2) fails with EINVAL when / is the initramfs' rootfs, which cannot be unmounted.
Requirement RootIsNotRootfs() {
  return {[]() -> std::optional<std::string> {
    auto info = ReadFile("/proc/self/mountinfo");
    if (!info) return "setup:no-mountinfo";
    std::istringstream in(*info);
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string id, parent, devno, root, mnt;
      f >> id >> parent >> devno >> root >> mnt;
      if (mnt == "/" && line.find(" - rootfs ") != std::string::npos) {
        return "setup:root-is-rootfs (pivot_root cannot move the initramfs root)";
      }
    }
    return std::nullopt;
  }};
}

int CheckOwnRoot(Channel& ch, const std::string& host_path) {
  Put(ch, "marker", YesNo(::access("/ckc-root-marker", F_OK) == 0));
  Put(ch, "host-path", YesNo(::access(host_path.c_str(), F_OK) == 0));
  char cwd[4096] = {};
  Put(ch, "cwd", ::getcwd(cwd, sizeof cwd) ? cwd : "?");
  return 0;
}

// Source: D "Mnt namespace" (processes can have their own root fs, a la chroot); pivot_root(2),
// chroot(2).
// Negative control: an initramfs root skips as setup:root-is-rootfs; skipping pivot_root fails.
TEST(MountNamespace, OwnRoot) {
  CKC_BEHAVIOUR("mnt.own-root", "D",
                "a process can be given a root directory of its own, by pivot_root() or by "
                "chroot(), after which the host's paths are out of its sight");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS),
              RootIsNotRootfs());
  std::string root = TestDir() + "/rootfs";
  ASSERT_OK(MakeDirs(root));
  ASSERT_OK(WriteFileAtomic(root + "/ckc-root-marker", "x"));
  // The test directory itself is a host path that must vanish from view.
  std::string host_path = TestDir();
  ASSERT_OK_AND_ASSIGN(ChildResult pivoted,
                       RunInSandbox(Sandbox().UserNsUnlessRoot().Root(root),
                                    [&](Channel& ch) { return CheckOwnRoot(ch, host_path); }));
  EXPECT_TRUE(pivoted.status.Exited(0)) << pivoted.Describe();
  EXPECT_EQ(Value(pivoted, "marker"), "yes") << "pivot_root: expected / to be the new root";
  EXPECT_EQ(Value(pivoted, "host-path"), "no")
      << "pivot_root: the host's " << host_path << " is still visible";
  ASSERT_OK_AND_ASSIGN(ChildResult chrooted,
                       RunInSandbox(Sandbox().UserNsUnlessRoot(), [&](Channel& ch) {
                         if (::chroot(root.c_str()) != 0) return ReportErrno(ch, "chroot");
                         if (::chdir("/") != 0) return ReportErrno(ch, "chdir");
                         return CheckOwnRoot(ch, host_path);
                       }));
  EXPECT_TRUE(chrooted.status.Exited(0)) << chrooted.Describe();
  EXPECT_EQ(Value(chrooted, "marker"), "yes") << "chroot: expected / to be the new root";
  EXPECT_EQ(Value(chrooted, "host-path"), "no")
      << "chroot: the host's " << host_path << " is still visible";
}

// A /proc file container runtimes mask (runc's maskedPaths): the first one this kernel has.
std::string MaskableProcFile() {
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

int MaskAndProbe(Channel& ch, const std::string& file) {
  struct stat null_st {};
  ::stat("/dev/null", &null_st);
  PutCreate(ch, "ip_forward-before", "/proc/sys/net/ipv4/ip_forward", 0);
  auto masked = BindMount("/dev/null", file);
  auto sys = MountTmpfs("/sys", "size=4k,mode=0555");
  auto sysctl = BindMount("/proc/sys", "/proc/sys", /*read_only=*/true, /*recursive=*/true);
  for (auto* m : {&masked, &sys, &sysctl}) {
    if (!*m) return Report(ch, "setup: " + m->error().Message());
  }
  struct stat st {};
  ::stat(file.c_str(), &st);
  Put(ch, "masked-is-null", YesNo(S_ISCHR(st.st_mode) && st.st_rdev == null_st.st_rdev));
  Put(ch, "sys-entries", fmt::format("{}", Entries("/sys")));
  PutCreate(ch, "ip_forward-after", "/proc/sys/net/ipv4/ip_forward", 0);
  return 0;
}

// Source: D "Mnt namespace" (mask /proc, /sys for processes that don't need them); the masked and
// read-only paths of container runtimes (runc maskedPaths/readonlyPaths).
// Negative control: user.max_user_namespaces=0 skips non-root; no bind over the file fails.
TEST(MountNamespace, MaskPaths) {
  CKC_BEHAVIOUR("mnt.mask-paths", "D",
                "sensitive paths can be hidden from a process in its mount namespace: a /proc file "
                "covered by /dev/null, /sys by an empty tmpfs, /proc/sys made read-only");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceType(NsType::kNet),
              NamespaceQuota(CLONE_NEWNS | CLONE_NEWNET),
              Requirement{[]() -> std::optional<std::string> {
                if (!MaskableProcFile().empty()) return std::nullopt;
                return "setup:no-maskable-proc-file (none of /proc/kcore, keys, timer_list, "
                       "sched_debug)";
              }});
  std::string file = MaskableProcFile();
  int host_sys = Entries("/sys");
  // A net namespace of its own makes /proc/sys/net/... the sandbox's, writable by its root.
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInSandbox(Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS | CLONE_NEWNET),
                   [&](Channel& ch) { return MaskAndProbe(ch, file); }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  CKC_ASSERT_SETUP(Value(r, "ip_forward-before") == "ok")
      << "the sandbox's own net sysctl writable before the remount; saw "
      << Value(r, "ip_forward-before");
  EXPECT_EQ(Value(r, "masked-is-null"), "yes") << "expected " << file << " masked by /dev/null";
  EXPECT_EQ(Value(r, "sys-entries"), "0")
      << "expected an empty /sys (the host's has " << host_sys << ")";
  EXPECT_EQ(Value(r, "ip_forward-after"), "EROFS") << "expected /proc/sys read-only";
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the parent's " << file << " must be untouched";
  EXPECT_EQ(Entries("/sys"), host_sys) << "the parent's /sys must be untouched";
}

// Source: mount(2) MS_BIND | MS_REMOUNT | MS_RDONLY; D "Mnt namespace" (mount sensitive data ...
// visible only for allowed processes); F (a read-only layer mounted in all processes).
// Negative control: user.max_user_namespaces=0 skips non-root; a bind without MS_RDONLY fails.
TEST(MountNamespace, ReadonlyBind) {
  CKC_BEHAVIOUR("mnt.readonly-bind", "F",
                "creating or writing a file through a read-only bind mount fails with EROFS, while "
                "the original path stays writable");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS));
  std::string rw = TestDir() + "/rw", ro = TestDir() + "/ro";
  ASSERT_OK(MakeDirs(rw));
  ASSERT_OK(MakeDirs(ro));
  ASSERT_OK(WriteFileAtomic(rw + "/existing", "x"));
  auto box = Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS).Then("ro bind", [&] {
    return Keep(BindMount(rw, ro, /*read_only=*/true));
  });
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(box, [&](Channel& ch) {
                         PutCreate(ch, "create-ro", ro + "/new");
                         PutCreate(ch, "write-ro", ro + "/existing", 0);
                         PutCreate(ch, "create-rw", rw + "/new");
                         Put(ch, "rw-visible-in-ro", YesNo(fs::exists(ro + "/new")));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "create-ro"), "EROFS") << "creating a file through the read-only bind";
  EXPECT_EQ(Value(r, "write-ro"), "EROFS")
      << "opening a file for writing through the read-only bind";
  EXPECT_EQ(Value(r, "create-rw"), "ok") << "the writable original must stay writable";
  EXPECT_EQ(Value(r, "rw-visible-in-ro"), "yes") << "both paths show the same directory";
}

}  // namespace
}  // namespace ckc::test
