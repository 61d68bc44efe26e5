// The new mount API and mount attributes: fsopen/fsconfig/fsmount/move_mount, detached copies
// from open_tree(OPEN_TREE_CLONE), mount_setattr (recursive flags, idmapped mounts) and
// unbindable mounts. Every mount is made in a mount namespace of the test's own (a Sandbox, or a
// child with CLONE_NEWNS), or is a detached mount that is in no mount table at all.
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>
#include <filesystem>
#include <memory>
#include <sstream>

#include "fs_context.h"
#include "loopdev.h"
#include "loopdev_mkfs.h"
#include "mount_api.h"
#include "mounts.h"
#include "ns_support.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;

Sandbox MountBox() { return Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS); }

// kernel:<name> when the system call is missing (ENOSYS), decided without side effects.
Requirement Syscall(const char* name, bool (*has)()) {
  return {[=]() -> std::optional<std::string> {
    if (has()) return std::nullopt;
    return fmt::format("kernel:{} (the system call returns ENOSYS)", name);
  }};
}

// "ok" or the errno name of a Status.
std::string Verdict(const Status& st) { return st ? "ok" : ErrnoName(st.error().err); }

// "uid:gid" of `name` under `dirfd` (AT_FDCWD for a path), or the errno name.
std::string OwnerAt(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoName(errno);
  return fmt::format("{}:{}", st.st_uid, st.st_gid);
}

// The read-only and nosuid flags of the mount `path` is on: "ro,nosuid", "rw", ...
std::string RoNosuid(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return ErrnoName(errno);
  std::string out = (st.f_flag & ST_RDONLY) ? "ro" : "rw";
  if (st.f_flag & ST_NOSUID) out += ",nosuid";
  return out;
}

// Reports key=ok or key=<ERRNO> for creating `path`.
void PutCreate(Channel& ch, std::string_view key, const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  PutCall(ch, key, fd);
  if (fd >= 0) ::close(fd);
}

// How many entries of this mount namespace's table have `source` as their mount source (the
// field after the file system type, past " - ").
int MountsFrom(const std::string& source) {
  auto info = ReadFile("/proc/self/mountinfo");
  if (!info) return -1;
  std::istringstream in(*info);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream f(line.substr(dash + 3));
    std::string type, src;
    f >> type >> src;
    if (src == source) ++n;
  }
  return n;
}

// Source: fsopen(2), fsconfig(2) ("messages ... can be read from the filesystem context file
// descriptor"), fsmount(2), move_mount(2); Documentation/filesystems/mount_api.rst.
// Negative control: a kernel before 5.2 has no fsopen (ENOSYS) and skips kernel:fsopen; an
// option tmpfs does not know must come back EINVAL with its name in the context's log.
TEST(NewMountApi, AttachesTmpfsAndExplainsRefusals) {
  CKC_BEHAVIOUR("mnt.new-api", "K",
                "a tmpfs is configured through an fsopen() context, turned into a mount by "
                "fsmount() and attached by move_mount(), no mount(2) involved; an option the file "
                "system refuses fails fsconfig() and the context explains why in its message log",
                "5.2");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS),
              Syscall("fsopen", HasFsopen), Syscall("move_mount", HasMoveMount));
  std::string target = TestDir() + "/new-api";
  ASSERT_OK(MakeDirs(target));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(MountBox(), [&](Channel& ch) {
                         CKC_CHILD_TRY(bad, FsContext::Open("tmpfs"));
                         auto refused = bad.SetString("ckc-no-such-option", "1");
                         Put(ch, "refused", Verdict(refused));
                         if (!refused) Put(ch, "refused-log", refused.error().detail);
                         CKC_CHILD_TRY(fc, FsContext::Open("tmpfs"));
                         Put(ch, "mode-option", Verdict(fc.SetString("mode", "0710")));
                         Put(ch, "create", Verdict(fc.Create()));
                         auto mnt = fc.Attach(target);
                         Put(ch, "attach", mnt ? "ok" : mnt.error().Message());
                         if (!mnt) return 1;
                         struct statfs sfs {};
                         ::statfs(target.c_str(), &sfs);
                         struct stat st {};
                         ::stat(target.c_str(), &st);
                         Put(ch, "is-tmpfs", YesNo(sfs.f_type == TMPFS_MAGIC));
                         Put(ch, "in-mountinfo", YesNo(IsMountPoint(target)));
                         Put(ch, "root-mode", fmt::format("{:o}", st.st_mode & 07777));
                         PutCreate(ch, "write", target + "/file");
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "refused"), "EINVAL") << "fsconfig() of an option tmpfs does not have";
  EXPECT_THAT(Value(r, "refused-log"), ::testing::HasSubstr("ckc-no-such-option"))
      << "expected the context's log to name the refused option";
  EXPECT_EQ(Value(r, "mode-option"), "ok");
  EXPECT_EQ(Value(r, "create"), "ok") << "FSCONFIG_CMD_CREATE";
  EXPECT_EQ(Value(r, "attach"), "ok") << "fsmount() + move_mount() onto " << target;
  EXPECT_EQ(Value(r, "is-tmpfs"), "yes") << "statfs() of the target after move_mount()";
  EXPECT_EQ(Value(r, "in-mountinfo"), "yes") << "the attached mount in /proc/self/mountinfo";
  EXPECT_EQ(Value(r, "root-mode"), "710") << "the mode= option set through fsconfig()";
  EXPECT_EQ(Value(r, "write"), "ok") << "creating a file on the attached tmpfs";
}

// In a sandbox: a tmpfs with a recognisable source at `src`, its detached copy attached at
// `dst`, then a second copy that is left detached and closed after everything else is gone.
int CloneAndAttach(Channel& ch, const std::string& src, const std::string& dst) {
  std::string source = fmt::format("ckc-clone-{}", ::getpid());
  CKC_CHILD_TRY(orig, MountFs(source, src, "tmpfs", 0, "size=64k"));
  CKC_CHILD_CHECK(WriteFileAtomic(src + "/marker", "x"));
  Put(ch, "mounts-before", fmt::format("{}", MountsFrom(source)));
  CKC_CHILD_TRY(copy, CloneTree(src));
  Put(ch, "mounts-with-copy", fmt::format("{}", MountsFrom(source)));
  Put(ch, "copy-has-marker", YesNo(::faccessat(copy.get(), "marker", F_OK, 0) == 0));
  auto attached = AttachMount(copy.get(), dst);
  Put(ch, "attach", attached ? "ok" : attached.error().Message());
  Put(ch, "mounts-attached", fmt::format("{}", MountsFrom(source)));
  Put(ch, "dst-has-marker", YesNo(::access((dst + "/marker").c_str(), F_OK) == 0));
  copy.Reset();  // its fd would hold the mount (and the file system) even once unmounted
  // The second copy ends up holding the file system alone; closing it must take it down.
  CKC_CHILD_TRY(lone, CloneTree(src));
  CKC_CHILD_TRY(watch, UnmountWatch::Create(fmt::format("/proc/self/fd/{}/marker", lone.get())));
  if (attached) CKC_CHILD_CHECK(attached->Unmount(MNT_DETACH));
  CKC_CHILD_CHECK(orig.Unmount(MNT_DETACH));
  CKC_CHILD_TRY(early, watch.WaitUnmounted(std::chrono::milliseconds(0)));
  Put(ch, "alive-while-fd-open", YesNo(!early));
  lone.Reset();
  CKC_CHILD_TRY(gone, watch.WaitUnmounted(std::chrono::seconds(2)));
  Put(ch, "gone-after-close", YesNo(gone));
  return 0;
}

// Source: open_tree(2) OPEN_TREE_CLONE ("a detached copy ... not yet attached ... unmounted when
// the file descriptor is closed"), move_mount(2).
// Negative control: a kernel before 5.2 has no open_tree (ENOSYS) and skips kernel:open_tree; a
// copy that showed up in mountinfo, or outlived its last fd, fails the row.
TEST(OpenTree, CloneStaysDetachedUntilMoved) {
  CKC_BEHAVIOUR("mnt.open-tree-clone", "K",
                "open_tree(OPEN_TREE_CLONE) gives a copy of a mount that no mount table lists "
                "until move_mount() attaches it, and a copy that was never attached is unmounted "
                "once its last fd is closed",
                "5.2");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS),
              Syscall("open_tree", HasOpenTree), Syscall("move_mount", HasMoveMount));
  std::string src = TestDir() + "/src", dst = TestDir() + "/dst";
  ASSERT_OK(MakeDirs(src));
  ASSERT_OK(MakeDirs(dst));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(MountBox(), [&](Channel& ch) {
                         return CloneAndAttach(ch, src, dst);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  CKC_ASSERT_SETUP(Value(r, "mounts-before") == "1")
      << "the source tmpfs listed once in mountinfo; saw " << Value(r, "mounts-before");
  EXPECT_EQ(Value(r, "mounts-with-copy"), "1")
      << "the detached copy must not be listed in /proc/self/mountinfo";
  EXPECT_EQ(Value(r, "copy-has-marker"), "yes") << "the copy shows the source's files";
  EXPECT_EQ(Value(r, "attach"), "ok") << "move_mount() of the copy onto " << dst;
  EXPECT_EQ(Value(r, "mounts-attached"), "2") << "after move_mount() the copy is listed";
  EXPECT_EQ(Value(r, "dst-has-marker"), "yes") << "the source's file under " << dst;
  EXPECT_EQ(Value(r, "alive-while-fd-open"), "yes")
      << "the detached copy alone must keep the tmpfs alive while its fd is open";
  EXPECT_EQ(Value(r, "gone-after-close"), "yes")
      << "closing the fd of the never-attached copy must unmount it (IN_UNMOUNT within 2 s)";
}

// A tmpfs at `base` with another at base/sub: mount_setattr() without and with AT_RECURSIVE.
int SetattrTree(Channel& ch, const std::string& base) {
  std::string sub = base + "/sub";
  CKC_CHILD_TRY(top, MountTmpfs(base, "size=64k"));
  CKC_CHILD_CHECK(MakeDirs(sub));
  CKC_CHILD_TRY(below, MountTmpfs(sub, "size=64k"));
  const MountAttr ro_nosuid{.set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
  const MountAttr clear{.clear = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
  Put(ch, "single", Verdict(SetMountAttr(AT_FDCWD, base, 0, ro_nosuid)));
  Put(ch, "single-top", RoNosuid(base));
  Put(ch, "single-sub", RoNosuid(sub));
  CKC_CHILD_CHECK(SetMountAttr(AT_FDCWD, base, 0, clear));
  Put(ch, "recursive", Verdict(SetMountAttr(AT_FDCWD, base, AT_RECURSIVE, ro_nosuid)));
  Put(ch, "recursive-top", RoNosuid(base));
  Put(ch, "recursive-sub", RoNosuid(sub));
  PutCreate(ch, "write-top-ro", base + "/f");
  PutCreate(ch, "write-sub-ro", sub + "/f");
  Put(ch, "clear", Verdict(SetMountAttr(AT_FDCWD, base, AT_RECURSIVE, clear)));
  Put(ch, "cleared-top", RoNosuid(base));
  Put(ch, "cleared-sub", RoNosuid(sub));
  PutCreate(ch, "write-top-rw", base + "/f");
  PutCreate(ch, "write-sub-rw", sub + "/f");
  return 0;
}

// Source: mount_setattr(2) (AT_RECURSIVE: "change the mount properties of the entire mount tree";
// attr_set / attr_clr); tools/testing/selftests/mount_setattr.
// Negative control: a kernel before 5.12 has no mount_setattr (ENOSYS) and skips
// kernel:mount_setattr; the non-recursive call, which must leave the sub-mount alone, shows the
// recursion is what reaches it.
TEST(MountSetattr, RecursiveFlagsSetAndClearTree) {
  CKC_BEHAVIOUR("mnt.setattr-recursive", "K",
                "one mount_setattr() call with AT_RECURSIVE makes every mount of a tree read-only "
                "and nosuid, and a second one clears both flags on the whole tree again",
                "5.12");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS),
              Syscall("mount_setattr", HasMountSetattr));
  std::string base = TestDir() + "/tree";
  ASSERT_OK(MakeDirs(base));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInSandbox(MountBox(), [&](Channel& ch) { return SetattrTree(ch, base); }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "single"), "ok");
  EXPECT_EQ(Value(r, "single-top"), "ro,nosuid") << "mount_setattr() without AT_RECURSIVE";
  EXPECT_EQ(Value(r, "single-sub"), "rw") << "without AT_RECURSIVE the sub-mount is left alone";
  EXPECT_EQ(Value(r, "recursive"), "ok");
  EXPECT_EQ(Value(r, "recursive-top"), "ro,nosuid");
  EXPECT_EQ(Value(r, "recursive-sub"), "ro,nosuid") << "AT_RECURSIVE must reach the sub-mount";
  EXPECT_EQ(Value(r, "write-top-ro"), "EROFS");
  EXPECT_EQ(Value(r, "write-sub-ro"), "EROFS");
  EXPECT_EQ(Value(r, "clear"), "ok") << "attr_clr with AT_RECURSIVE";
  EXPECT_EQ(Value(r, "cleared-top"), "rw");
  EXPECT_EQ(Value(r, "cleared-sub"), "rw");
  EXPECT_EQ(Value(r, "write-top-rw"), "ok");
  EXPECT_EQ(Value(r, "write-sub-rw"), "ok");
}

// Ids of the idmapping: inside 0..999 on disk, 10000..10999 through the mount.
constexpr uint32_t kMappedBase = 10000;
constexpr uint32_t kMappedCount = 1000;

// The file system an idmapped mount is tried on: tmpfs where the kernel can (6.3+), else ext4
// on a loop device (5.12+), whose image lives in the test's directory and which detaches itself.
struct IdmapFs {
  std::string type;                  // "tmpfs" or "ext4"
  std::unique_ptr<LoopDevice> loop;  // ext4 only: the device, already formatted
  std::string broken;                // a setup step of the probe that failed

  [[nodiscard]] Result<FsContext> Context() const {
    CKC_TRY(fc, FsContext::Open(type));
    if (loop) CKC_CHECK(fc.SetString("source", loop->path()));
    CKC_CHECK(fc.Create());
    return fc;
  }
};

// Whether a fresh detached mount of `fs` takes MOUNT_ATTR_IDMAP (nothing is attached anywhere).
Status TryIdmap(const IdmapFs& fs, int userns_fd) {
  CKC_TRY(fc, fs.Context());
  CKC_TRY(mnt, fc.MountDetached());
  return IdmapMount(mnt.get(), userns_fd);
}

// Picks the file system for mnt.idmapped into *out: probes tmpfs with a detached fsmount, and
// only when tmpfs refuses (EINVAL: "does not support ID-mapped mounts") formats an ext4 image.
Requirement IdmappableFs(IdmapFs* out) {
  return {[out]() -> std::optional<std::string> {
    // A probe step that breaks is not a kernel verdict: the test reports it as setup.
    auto broke = [out](const Error& e) -> std::optional<std::string> {
      out->broken = e.Message();
      return std::nullopt;
    };
    auto users = MakeUserNs({{0, kMappedBase, kMappedCount}}, {{0, kMappedBase, kMappedCount}});
    if (!users) return broke(users.error());
    out->type = "tmpfs";
    auto tmpfs = TryIdmap(*out, users->get());
    if (tmpfs || tmpfs.error().err != EINVAL) return std::nullopt;  // errors surface in the test
    std::string mkfs = FindMkfsExt4();
    if (mkfs.empty()) {
      return "setup:missing-mkfs.ext4 (tmpfs refuses MOUNT_ATTR_IDMAP here; the ext4 fallback "
             "needs mkfs.ext4 or mke2fs)";
    }
    auto loop = LoopDevice::Create(TestDir() + "/idmap.img", 16 << 20);
    if (!loop) return broke(loop.error());
    out->type = "ext4";
    out->loop = std::make_unique<LoopDevice>(std::move(*loop));
    if (auto st = MakeExt4(mkfs, out->loop->path()); !st) return broke(st.error());
    auto ext4 = TryIdmap(*out, users->get());
    if (ext4 || ext4.error().err != EINVAL) return std::nullopt;
    return "kernel:idmapped-mounts (MOUNT_ATTR_IDMAP refused with EINVAL on detached tmpfs and "
           "ext4 mounts)";
  }};
}

// In a child with its own mount namespace, as root: the file system attached plainly at `plain`
// with files of uid 0 and 7, its idmapped detached copy, and a file made through the copy.
int IdmapInChild(Channel& ch, const IdmapFs& fs, int users, const std::string& plain) {
  CKC_CHILD_CHECK(MakeRootPrivate());
  CKC_CHILD_TRY(fc, fs.Context());
  CKC_CHILD_TRY(mnt, fc.Attach(plain));
  CKC_CHILD_CHECK(WriteFileAtomic(plain + "/root-file", "x"));
  CKC_CHILD_CHECK(WriteFileAtomic(plain + "/seven-file", "x"));
  CKC_CHILD_CHECK(MakeDirs(plain + "/shared", 01777));
  if (::chown((plain + "/seven-file").c_str(), 7, 7) != 0) return ReportErrno(ch, "setup: chown");
  CKC_CHILD_TRY(copy, CloneTree(plain));
  Put(ch, "idmap-detached", Verdict(IdmapMount(copy.get(), users)));
  Put(ch, "root-file-mapped", OwnerAt(copy.get(), "root-file"));
  Put(ch, "seven-file-mapped", OwnerAt(copy.get(), "seven-file"));
  // fsuid/fsgid 10005 are what the mount maps to on-disk id 5.
  ::setfsgid(kMappedBase + 5);
  ::setfsuid(kMappedBase + 5);
  int fd = ::openat(copy.get(), "shared/new-file", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  PutCall(ch, "create-mapped", fd);
  if (fd >= 0) ::close(fd);
  ::setfsuid(0);
  ::setfsgid(0);
  Put(ch, "new-file-on-disk", OwnerAt(AT_FDCWD, plain + "/shared/new-file"));
  Put(ch, "new-file-mapped", OwnerAt(copy.get(), "shared/new-file"));
  Put(ch, "root-file-on-disk", OwnerAt(AT_FDCWD, plain + "/root-file"));
  Put(ch, "idmap-attached",
      Verdict(SetMountAttr(AT_FDCWD, plain, 0, {.set = MOUNT_ATTR_IDMAP, .userns_fd = users})));
  return 0;
}

// Source: mount_setattr(2) "ID-mapped mounts" and EINVAL ("the mount that is to be ID mapped is
// not a detached mount"); Documentation/filesystems/idmappings.rst.
// Negative control: before 5.12 there is no mount_setattr (kernel:mount_setattr); before 6.3
// tmpfs refuses MOUNT_ATTR_IDMAP with EINVAL and ext4 on a loop device is used instead; a kernel
// that idmaps neither skips kernel:idmapped-mounts.
TEST(IdmappedMount, MapsOwnersThroughUserNamespace) {
  CKC_BEHAVIOUR("mnt.idmapped", "K",
                "a detached mount given MOUNT_ATTR_IDMAP and a user namespace shows every owner "
                "translated by that namespace's map and stores files created through it under "
                "the reverse-mapped ids, while a mount already attached is refused with EINVAL",
                "5.12");
  IdmapFs fs;
  CKC_REQUIRE(Root(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS | CLONE_NEWUSER),
              Syscall("mount_setattr", HasMountSetattr), Syscall("open_tree", HasOpenTree),
              IdmappableFs(&fs));
  if (!fs.broken.empty()) return SetupFailed(fs.broken, __FILE__, __LINE__);
  RecordProperty("idmapped_fs", fs.type);
  ASSERT_OK_AND_ASSIGN(UniqueFd users, MakeUserNs({{0, kMappedBase, kMappedCount}},
                                                  {{0, kMappedBase, kMappedCount}}));
  std::string plain = TestDir() + "/plain";
  ASSERT_OK(MakeDirs(plain));
  int users_fd = users.get();
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInChild([&](Channel& ch) { return IdmapInChild(ch, fs, users_fd, plain); }, CLONE_NEWNS));
  ASSERT_TRUE(r.status.Exited(0)) << fs.type << ": " << r.Describe();
  EXPECT_EQ(Value(r, "idmap-detached"), "ok") << fs.type << ": MOUNT_ATTR_IDMAP on a clone";
  EXPECT_EQ(Value(r, "root-file-mapped"), "10000:10000")
      << "on-disk 0:0 seen through the map 0->10000";
  EXPECT_EQ(Value(r, "seven-file-mapped"), "10007:10007") << "on-disk 7:7 through the map";
  EXPECT_EQ(Value(r, "root-file-on-disk"), "0:0") << "the plain mount shows the on-disk owner";
  EXPECT_EQ(Value(r, "create-mapped"), "ok") << "creating a file as fsuid 10005 through the copy";
  EXPECT_EQ(Value(r, "new-file-on-disk"), "5:5")
      << "a file made by fsuid 10005 through the idmapped mount must be stored as 5";
  EXPECT_EQ(Value(r, "new-file-mapped"), "10005:10005");
  EXPECT_EQ(Value(r, "idmap-attached"), "EINVAL")
      << "MOUNT_ATTR_IDMAP on a mount that is attached in a mount namespace";
}

// In a sandbox: src (a tmpfs) holding keep (a tmpfs) and skip (a tmpfs made unbindable).
int UnbindableTree(Channel& ch, const std::string& base) {
  std::string src = base + "/src";
  CKC_CHILD_TRY(top, MountTmpfs(src, "size=64k"));
  for (const char* d : {"/keep", "/skip"}) CKC_CHILD_CHECK(MakeDirs(src + d));
  for (const char* d : {"/bind-skip", "/bind-keep", "/rbind"}) CKC_CHILD_CHECK(MakeDirs(base + d));
  CKC_CHILD_TRY(keep, MountTmpfs(src + "/keep", "size=64k"));
  CKC_CHILD_TRY(skip, MountTmpfs(src + "/skip", "size=64k"));
  CKC_CHILD_CHECK(SetPropagation(src + "/skip", Propagation::kUnbindable));
  auto bind = [&](const std::string& from, const std::string& to, unsigned long flags) {
    return ::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | flags, nullptr);
  };
  PutCall(ch, "bind-unbindable", bind(src + "/skip", base + "/bind-skip", 0));
  PutCall(ch, "bind-bindable", bind(src + "/keep", base + "/bind-keep", 0));
  PutCall(ch, "rbind", bind(src, base + "/rbind", MS_REC));
  Put(ch, "rbind-has-keep", YesNo(IsMountPoint(base + "/rbind/keep")));
  Put(ch, "rbind-has-skip", YesNo(IsMountPoint(base + "/rbind/skip")));
  return 0;
}

// Source: mount_namespaces(7) "MS_UNBINDABLE" ("it can't be bind mounted ... bind mounts of
// trees containing it prune it"); Documentation/filesystems/sharedsubtree.rst (unbindable).
// Negative control: the bindable sibling mount must bind and be copied by the recursive bind,
// so a refusal or a prune is the unbindable flag's doing.
TEST(UnbindableMount, RefusedAndPrunedFromRbind) {
  CKC_BEHAVIOUR("mnt.unbindable", "K",
                "binding a mount marked MS_UNBINDABLE is refused with EINVAL, and a recursive "
                "bind of a tree that holds one copies the other mounts but leaves it out");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kMnt), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/unbindable";
  ASSERT_OK(MakeDirs(base + "/src"));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(MountBox(), [&](Channel& ch) {
                         return UnbindableTree(ch, base);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "bind-unbindable"), "EINVAL") << "bind mount of the MS_UNBINDABLE mount";
  EXPECT_EQ(Value(r, "bind-bindable"), "ok") << "control: bind mount of its bindable sibling";
  EXPECT_EQ(Value(r, "rbind"), "ok") << "recursive bind of the tree holding both";
  EXPECT_EQ(Value(r, "rbind-has-keep"), "yes") << "the bindable sub-mount is copied";
  EXPECT_EQ(Value(r, "rbind-has-skip"), "no") << "the unbindable sub-mount must be left out";
}

}  // namespace
}  // namespace ckc::test
