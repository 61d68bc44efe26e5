// User namespaces and mounts: what root of a user namespace may mount, the locks on mounts it
// inherits, proc's "fully visible" rule, file capabilities stored for a namespace's root, the
// capabilities split off CAP_SYS_ADMIN, and proc's hidepid/subset options. Mounts are made in
// mount namespaces of the test's own; sysctls are only written in a pid namespace of its own.
//
// The suite binary doubles as the program that is executed to see which capabilities an exec
// grants: `ckc-suite-namespaces --ckc-ns-capability-helper <cap>` exits 0 when <cap> is in its
// permitted set, 1 when not (caught by a constructor before GoogleTest's main).
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <linux/securebits.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capabilities.h"
#include "mounts.h"
#include "ns_support.h"
#include "userns.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCapHelperFlag = "--ckc-ns-capability-helper";
constexpr int kHelperHasCap = 0;
constexpr int kHelperLacksCap = 1;
// As root, the host uid a user namespace's root is mapped to (neither root nor the caller).
constexpr uid_t kMappedRoot = 20000;
constexpr unsigned long kProcFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

uid_t HostUid() { return ::geteuid() == 0 ? kMappedRoot : ::geteuid(); }
gid_t HostGid() { return ::geteuid() == 0 ? kMappedRoot : ::getegid(); }
// The id, in the namespace of a sandbox's root, that a nested namespace's root is mapped to: a
// host uid as root; the sandbox's own (only) id 0 when it runs through a user namespace.
uid_t NestedRootUid() { return ::geteuid() == 0 ? kMappedRoot : 0; }

std::string Verdict(const Status& st) { return st ? "ok" : ErrnoName(st.error().err); }

// In a sandbox: runs `fn` in a nested sandbox and passes its reports on; 0 if it exited 0.
int RunNested(Channel& ch, const Sandbox& box, const std::function<int(Channel&)>& fn) {
  auto inner = RunInSandbox(box, fn, std::chrono::seconds(10));
  if (!inner) return Report(ch, "setup: nested sandbox: " + inner.error().Message(), 2);
  for (const auto& m : inner->reports) (void)ch.Send(m);
  return inner->status.Exited(0) ? 0 : 3;
}

struct UsernsFs {
  const char* type;
  unsigned long flags;
  long magic;
  const char* config;
};
// What each needs beside the user and mount namespaces: proc a pid namespace, sysfs a net
// namespace, mqueue an ipc namespace and cgroup2 a cgroup namespace of the same owner.
constexpr UsernsFs kUsernsMountable[] = {
    {"tmpfs", 0, TMPFS_MAGIC, "CONFIG_SHMEM"},
    {"proc", kProcFlags, PROC_SUPER_MAGIC, "CONFIG_PROC_FS"},
    {"sysfs", kProcFlags, SYSFS_MAGIC, "CONFIG_SYSFS"},
    {"mqueue", kProcFlags, 0x19800202 /* MQUEUE_MAGIC */, "CONFIG_POSIX_MQUEUE"},
    {"devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_SUPER_MAGIC, "CONFIG_UNIX98_PTYS"},
    {"cgroup2", kProcFlags, CGROUP2_SUPER_MAGIC, "CONFIG_CGROUPS"},
};

// config:<option> for the first of these types (and ext4) the kernel does not list at all.
Requirement UsernsFileSystemTypes() {
  return {[]() -> std::optional<std::string> {
    std::string list = ReadFile("/proc/filesystems").value_or("");
    auto missing = [&](const char* type, const char* option) -> std::optional<std::string> {
      if (list.find(fmt::format("\t{}\n", type)) != std::string::npos) return std::nullopt;
      return fmt::format("config:{} ({} is not in /proc/filesystems)", option, type);
    };
    for (const UsernsFs& f : kUsernsMountable) {
      if (auto why = missing(f.type, f.config)) return why;
    }
    return missing("ext4", "CONFIG_EXT4_FS");
  }};
}

int MountEach(Channel& ch) {
  for (const UsernsFs& f : kUsernsMountable) {
    std::string dir = fmt::format("/tmp/{}", f.type);
    CKC_CHILD_CHECK(MakeDirs(dir));
    int rc = ::mount(f.type, dir.c_str(), f.type, f.flags, nullptr);
    PutCall(ch, f.type, rc);
    struct statfs sfs {};
    if (rc == 0 && ::statfs(dir.c_str(), &sfs) == 0) {
      Put(ch, fmt::format("{}-magic", f.type), YesNo(sfs.f_type == f.magic));
    }
  }
  // The privilege check comes before the source is looked at, so no image is needed.
  CKC_CHILD_CHECK(MakeDirs("/tmp/ext4"));
  int rc = ::mount("/tmp/ckc-no-image", "/tmp/ext4", "ext4", 0, nullptr);
  PutCall(ch, "ext4", rc);
  if (rc == 0) ::umount2("/tmp/ext4", MNT_DETACH);
  return 0;
}

// Source: user_namespaces(7) "Capabilities" (mounting a file system needs CAP_SYS_ADMIN in the
// owner of the mount namespace, and the type must allow it: FS_USERNS_MOUNT), mount(2), and the
// namespaces each type checks (proc: pid, sysfs: net, mqueue: ipc, cgroup2: cgroup).
// Negative control: ext4, a block file system without FS_USERNS_MOUNT, must fail with EPERM
// where the others succeed; a kernel without one of the types skips config:<option>.
TEST(UserNamespaceMount, MountableFileSystems) {
  CKC_BEHAVIOUR("user.mountable-fs", "K",
                "root of a user namespace, in a mount namespace it owns, may mount tmpfs, proc "
                "(given its own pid namespace), sysfs (its own net namespace), mqueue, devpts and "
                "cgroup2, and is refused a block file system like ext4 with EPERM");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUser), NamespaceType(NsType::kPid),
              NamespaceType(NsType::kNet), NamespaceType(NsType::kIpc),
              NamespaceType(NsType::kCgroup),
              NamespaceQuota(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                             CLONE_NEWIPC | CLONE_NEWCGROUP),
              UsernsFileSystemTypes());
  auto box =
      Sandbox()
          .MapRootTo(HostUid(), HostGid())
          .Namespaces(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWCGROUP)
          .Then("tmpfs on /tmp", [] { return Keep(MountTmpfs("/tmp", "size=1m")); });
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(box, MountEach));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  for (const UsernsFs& f : kUsernsMountable) {
    EXPECT_EQ(Value(r, f.type), "ok") << "mounting " << f.type << " as root of the namespace";
    if (Value(r, f.type) == "ok") {
      EXPECT_EQ(Value(r, fmt::format("{}-magic", f.type)), "yes")
          << "statfs() of the new " << f.type << " mount";
    }
  }
  EXPECT_EQ(Value(r, "ext4"), "EPERM") << "mounting ext4 as root of the user namespace";
}

// The outer sandbox's tree: a tmpfs over /tmp/covered (which holds a file beneath it), a
// read-only nosuid nodev tmpfs on /tmp/flags, and /tmp/own for a mount of the inner namespace.
Status LockedTree() {
  CKC_TRY(tmp, MountTmpfs("/tmp", "size=1m"));
  tmp.Release();
  for (const char* d : {"/tmp/covered", "/tmp/flags", "/tmp/own"}) CKC_CHECK(MakeDirs(d));
  CKC_CHECK(WriteFileAtomic("/tmp/covered/beneath", "x"));
  CKC_TRY(cover, MountTmpfs("/tmp/covered", "size=64k"));
  cover.Release();
  CKC_TRY(flags,
          MountFs("tmpfs", "/tmp/flags", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k"));
  flags.Release();
  return {};
}

std::string MountFlags(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return ErrnoName(errno);
  return fmt::format("{}{}{}", st.f_flag & ST_RDONLY ? "ro" : "rw",
                     st.f_flag & ST_NOSUID ? ",nosuid" : "", st.f_flag & ST_NODEV ? ",nodev" : "");
}

// In the nested user and mount namespaces: what may be done to the inherited mounts.
int TryUnlock(Channel& ch) {
  PutCall(ch, "umount-cover", ::umount2("/tmp/covered", 0));
  PutCall(ch, "umount-cover-detach", ::umount2("/tmp/covered", MNT_DETACH));
  Put(ch, "beneath-visible", YesNo(::access("/tmp/covered/beneath", F_OK) == 0));
  auto remount = [](unsigned long flags) {
    return ::mount(nullptr, "/tmp/flags", nullptr, MS_REMOUNT | MS_BIND | flags, nullptr);
  };
  PutCall(ch, "clear-ro", remount(MS_NOSUID | MS_NODEV));
  PutCall(ch, "clear-nosuid", remount(MS_RDONLY | MS_NODEV));
  PutCall(ch, "clear-nodev", remount(MS_RDONLY | MS_NOSUID));
  PutCall(ch, "keep-all", remount(MS_RDONLY | MS_NOSUID | MS_NODEV));
  Put(ch, "flags-after", MountFlags("/tmp/flags"));
  PutCall(ch, "own-mount", ::mount("tmpfs", "/tmp/own", "tmpfs", 0, "size=64k"));
  PutCall(ch, "own-umount", ::umount2("/tmp/own", 0));
  return 0;
}

// Source: mount_namespaces(7) "Restrictions on mount namespaces" (mounts that come as a single
// unit from a more privileged namespace are locked; MS_RDONLY, MS_NOSUID, MS_NOEXEC, MS_NODEV
// and atime flags are locked); umount(2) EINVAL ("target is locked"); mount(2) EPERM.
// Negative control: the same remount keeping every flag, and a mount the inner namespace made
// itself, must succeed (and unmount), so the refusals are the locks' doing.
TEST(UserNamespaceMount, InheritedMountsAreLocked) {
  CKC_BEHAVIOUR("user.locked-mounts", "K",
                "mounts a mount namespace inherits from a more privileged user namespace are "
                "locked: one covering another cannot be unmounted (EINVAL), and a remount that "
                "would drop ro, nosuid or nodev is refused (EPERM)");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUser), NamespaceType(NsType::kMnt),
              NamespaceQuota(CLONE_NEWUSER | CLONE_NEWNS));
  uid_t nested = NestedRootUid();
  auto outer = Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS).Then("tree", LockedTree);
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(outer, [&](Channel& ch) {
                         auto inner = Sandbox().MapRootTo(nested, nested).Namespaces(CLONE_NEWNS);
                         return RunNested(ch, inner, TryUnlock);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "umount-cover"), "EINVAL") << "umount of the inherited covering mount";
  EXPECT_EQ(Value(r, "umount-cover-detach"), "EINVAL") << "umount2(MNT_DETACH) of it";
  EXPECT_EQ(Value(r, "beneath-visible"), "no") << "the covered file must stay hidden";
  EXPECT_EQ(Value(r, "clear-ro"), "EPERM") << "remount dropping MS_RDONLY";
  EXPECT_EQ(Value(r, "clear-nosuid"), "EPERM") << "remount dropping MS_NOSUID";
  EXPECT_EQ(Value(r, "clear-nodev"), "EPERM") << "remount dropping MS_NODEV";
  EXPECT_EQ(Value(r, "keep-all"), "ok") << "control: a remount keeping the locked flags";
  EXPECT_EQ(Value(r, "flags-after"), "ro,nosuid,nodev");
  EXPECT_EQ(Value(r, "own-mount"), "ok") << "control: a mount of the namespace's own";
  EXPECT_EQ(Value(r, "own-umount"), "ok") << "control: unmounting a mount of its own";
}

// A /proc file container runtimes mask (runc's maskedPaths): the first one this kernel has.
std::string MaskableProcFile() {
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

// In an outer sandbox (its /proc masked at `mask` unless empty): root of a nested user
// namespace with its own pid namespace mounts a new proc.
Result<ChildResult> MountProcNested(const std::string& mask) {
  uid_t nested = NestedRootUid();
  auto outer = Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS).Then("mask", [mask] {
    return mask.empty() ? Status{} : Keep(BindMount("/dev/null", mask));
  });
  return RunInSandbox(outer, [nested](Channel& ch) {
    auto inner = Sandbox().MapRootTo(nested, nested).Namespaces(CLONE_NEWNS | CLONE_NEWPID);
    return RunNested(ch, inner, [](Channel& ich) {
      PutCall(ich, "proc", ::mount("proc", "/proc", "proc", kProcFlags, nullptr));
      return 0;
    });
  });
}

// What the unmasked nested proc mount gave: its outcome ("ok; exited with 0; ..."), or the
// setup step that broke before it.
struct ProcControl {
  std::string seen;
  std::string broken;
};

// The negative control, decided first: with nothing masked the nested proc mount must work
// (*control gets its outcome); EPERM means the /proc this test sees is already not fully visible
// (a container's own masks), which no test of its own can undo.
Requirement ProcFullyVisibleHere(ProcControl* out) {
  return {[out]() -> std::optional<std::string> {
    auto control = MountProcNested("");
    if (!control) out->broken = control.error().Message();
    if (control) out->seen = Value(*control, "proc") + "; " + control->Describe();
    if (!control || Value(*control, "proc") != "EPERM") return std::nullopt;
    return "setup:proc-not-fully-visible (proc cannot be mounted in a user namespace even "
           "before the test masks anything: the /proc here already has over-mounts)";
  }};
}

// Source: user_namespaces(7) / mount_namespaces(7) and the kernel's mount_too_revealing(): a
// proc (or sysfs) may only be mounted in a user namespace where an existing mount of it is fully
// visible, i.e. nothing but empty directories is covered; runc's maskedPaths cover files.
// Negative control: without the mask the same nested mount of proc must succeed (checked
// first; where it cannot, the row skips setup:proc-not-fully-visible).
TEST(UserNamespaceMount, ProcNeedsFullyVisibleProc) {
  CKC_BEHAVIOUR("user.proc-fully-visible", "K",
                "root of a user namespace is refused a new proc mount (EPERM) while the proc it "
                "can see has a file covered by another mount, as masked paths do, and may mount "
                "one when nothing covers it");
  ProcControl control;
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUser), NamespaceType(NsType::kPid),
              NamespaceQuota(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID),
              Requirement{[]() -> std::optional<std::string> {
                if (!MaskableProcFile().empty()) return std::nullopt;
                return "setup:no-maskable-proc-file (none of /proc/kcore, keys, timer_list, "
                       "sched_debug)";
              }},
              ProcFullyVisibleHere(&control));
  if (!control.broken.empty()) return SetupFailed(control.broken, __FILE__, __LINE__);
  EXPECT_TRUE(control.seen.starts_with("ok; exited with 0"))
      << "mounting proc in a user namespace while nothing covers the proc it sees (the control); "
      << "saw " << control.seen;
  std::string file = MaskableProcFile();
  ASSERT_OK_AND_ASSIGN(ChildResult masked, MountProcNested(file));
  ASSERT_TRUE(masked.status.Exited(0)) << masked.Describe();
  EXPECT_EQ(Value(masked, "proc"), "EPERM")
      << "mounting proc in a user namespace while " << file << " is covered by /dev/null";
}

// security.capability as stored: "v2", "v3 rootid=N", or the errno name.
std::string RawFileCaps(const std::string& path) {
  constexpr uint32_t kRevisionMask = 0xFF000000, kRevision2 = 0x02000000, kRevision3 = 0x03000000;
  uint32_t raw[6] = {};  // magic_etc, 2 x {permitted, inheritable}, rootid (v3)
  ssize_t n = ::getxattr(path.c_str(), "security.capability", raw, sizeof raw);
  if (n < 0) return ErrnoName(errno);
  uint32_t revision = raw[0] & kRevisionMask;
  if (revision == kRevision2) return "v2";
  if (revision == kRevision3 && n == sizeof raw) return fmt::format("v3 rootid={}", raw[5]);
  return fmt::format("revision {:#x}, {} bytes", revision, n);
}

// Runs the suite binary at `fd` as the capability helper in a child: its exit status.
std::string ExecCapHelper(int fd, const std::function<bool()>& before = {}) {
  auto child = Spawn({}, [&] {
    if (before && !before()) return 120;
    std::string cap = std::to_string(CAP_NET_BIND_SERVICE);
    const char* argv[] = {"ckc-ns-capability-helper", kCapHelperFlag, cap.c_str(), nullptr};
    ::syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    return 127;
  });
  if (!child) return child.error().Message();
  auto st = child->Wait(std::chrono::seconds(10));
  return st ? st->Describe() : st.error().Message();
}

// In the user namespace (0 -> kMappedRoot): sets the file capability, reads it back, and runs
// the file with SECBIT_NOROOT, so only the file capability can put it in the permitted set.
// The file is reached below its directory's fd (libcap refuses the fd's own magic link).
int SetCapsInside(Channel& ch, int dir_fd, int helper_fd) {
  std::string path = fmt::format("/proc/self/fd/{}/helper", dir_fd);
  Put(ch, "setcap-inside", Verdict(SetFileCapabilities(path, "cap_net_bind_service=p")));
  Put(ch, "stored-inside", RawFileCaps(path));
  Put(ch, "exec-inside",
      ExecCapHelper(helper_fd, [] { return ::prctl(PR_SET_SECUREBITS, SECBIT_NOROOT) == 0; }));
  return 0;
}

// As root in a mount namespace of its own: a copy of the suite binary owned by kMappedRoot on a
// tmpfs of the initial user namespace, its capability set from inside, then run outside.
int FileCapsRoundTrip(Channel& ch, const std::string& dir) {
  CKC_CHILD_CHECK(MakeRootPrivate());
  CKC_CHILD_TRY(tmp, MountTmpfs(dir, "mode=0755"));
  std::string copy = dir + "/helper";
  std::error_code ec;
  if (!fs::copy_file("/proc/self/exe", copy, ec)) {
    return Report(ch, "setup: copy the suite binary: " + ec.message(), 2);
  }
  if (::chown(copy.c_str(), kMappedRoot, kMappedRoot) != 0) return ReportErrno(ch, "setup: chown");
  // O_PATH fds reach the file without search permission on the 0700 run directory above.
  CKC_CHILD_TRY(top, OpenFile(dir, O_PATH | O_DIRECTORY));
  CKC_CHILD_TRY(helper, OpenFile(copy, O_PATH));
  int dir_fd = top.get(), fd = helper.get();
  auto userns = Sandbox().MapRootTo(kMappedRoot, kMappedRoot);
  if (int rc =
          RunNested(ch, userns, [=](Channel& ich) { return SetCapsInside(ich, dir_fd, fd); })) {
    return rc;
  }
  Put(ch, "stored-outside", RawFileCaps(copy));
  Put(ch, "exec-outside",
      ExecCapHelper(fd, [] { return BecomeUser(kMappedRoot, kMappedRoot).has_value(); }));
  return 0;
}

// Source: capabilities(7) "File capability extended attribute versioning" (VFS_CAP_REVISION_3
// stores the root user ID of the namespace that set it, Linux 4.14; the capabilities apply only
// where that ID is root) and user_namespaces(7).
// Negative control: the same file run inside the namespace (SECBIT_NOROOT, so root's implicit
// capabilities are off) must gain the capability, showing the attribute works where it belongs.
TEST(FileCapability, NamespacedRootIdGrantsNothingOutside) {
  CKC_BEHAVIOUR("user.file-caps-namespaced", "K",
                "a file capability written by root of a user namespace is stored as version 3 "
                "with that namespace's root uid, takes effect when the file runs inside the "
                "namespace and grants nothing when it runs outside",
                "4.14");
  CKC_REQUIRE(Root(), NamespaceType(NsType::kUser), NamespaceType(NsType::kMnt),
              NamespaceQuota(CLONE_NEWUSER | CLONE_NEWNS), Config("CONFIG_TMPFS_XATTR"));
  std::string dir = TestDir() + "/fcaps";
  ASSERT_OK(MakeDirs(dir));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInChild([&](Channel& ch) { return FileCapsRoundTrip(ch, dir); }, CLONE_NEWNS));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(Value(r, "setcap-inside"), "ok") << "cap_set_file() by root of the user namespace";
  EXPECT_EQ(Value(r, "stored-outside"), fmt::format("v3 rootid={}", kMappedRoot))
      << "security.capability read from the initial namespace";
  EXPECT_EQ(Value(r, "stored-inside"), "v2")
      << "inside, the attribute of the namespace's own root reads as a plain v2 one";
  EXPECT_EQ(Value(r, "exec-inside"), fmt::format("exited with {}", kHelperHasCap))
      << "control: run inside the namespace, the file capability must be in the permitted set";
  EXPECT_EQ(Value(r, "exec-outside"), fmt::format("exited with {}", kHelperLacksCap))
      << "run by uid " << kMappedRoot << " outside the namespace, it must grant nothing";
}

// --- split capabilities -------------------------------------------------------------------

// bpf(BPF_MAP_CREATE) of a one-entry array map: the fd, or -1 with errno.
int CreateArrayMap() {
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  return static_cast<int>(::syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
}

// perf_event_open of a CPU-wide software clock on CPU 0 that counts kernel time too: the
// paranoid levels >= 1 (CPU events) and >= 2 (kernel profiling) need CAP_PERFMON for it.
int OpenKernelCpuClock() {
  perf_event_attr attr{};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  return static_cast<int>(::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
}

std::string Closed(int fd) {
  std::string o = Outcome(fd);
  if (fd >= 0) ::close(fd);
  return o;
}

int SysctlInt(std::string_view name, int fallback) {
  auto v = ReadSysctl(name);
  return v ? std::atoi(v->c_str()) : fallback;
}

// One capability of the row and what it must grant; `unchecked` is why it cannot be checked on
// this kernel (nullopt: it is checked).
struct SplitPart {
  const char* key;  // the observation and property name: bpf, perf, ns_last_pid
  cap_value_t cap;
  const char* cap_name;
  std::function<std::optional<std::string>()> unsupported;
  std::optional<std::string> unchecked;
};

// kernel:<CAP_X> when the capability number is beyond /proc/sys/kernel/cap_last_cap.
std::optional<std::string> UnknownCapability(cap_value_t cap, const char* name) {
  int last = SysctlInt("kernel.cap_last_cap", -1);
  if (cap <= last) return std::nullopt;
  return fmt::format("kernel:{} (cap_last_cap is {})", name, last);
}

// The operation itself compiled out, probed with the test's full privileges.
std::optional<std::string> CompiledOut(const char* option, const std::function<int()>& op) {
  int fd = op();
  if (fd >= 0) ::close(fd);
  if (fd >= 0 || (errno != ENOSYS && errno != ENOENT && errno != EOPNOTSUPP)) return std::nullopt;
  return fmt::format("config:{} ({})", option, ErrnoName(errno));
}

std::vector<SplitPart> SplitParts() {
  return {
      {"bpf", CAP_BPF, "CAP_BPF", [] { return CompiledOut("CONFIG_BPF_SYSCALL", CreateArrayMap); },
       std::nullopt},
      {"perf", CAP_PERFMON, "CAP_PERFMON",
       []() -> std::optional<std::string> {
         if (auto why = CompiledOut("CONFIG_PERF_EVENTS", OpenKernelCpuClock)) return why;
         // Levels above 2 are a distribution's (Debian, Ubuntu: "disallow all unprivileged
         // use"), not in perf_event_open(2); their check asks for CAP_SYS_ADMIN alone.
         int paranoid = SysctlInt("kernel.perf_event_paranoid", 2);
         if (paranoid <= 2) return std::nullopt;
         return fmt::format(
             "sysctl:kernel.perf_event_paranoid (is {}: a level beyond the "
             "documented 2 that only CAP_SYS_ADMIN passes)",
             paranoid);
       },
       std::nullopt},
      {"ns_last_pid", CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE",
       []() -> std::optional<std::string> {
         if (::access("/proc/sys/kernel/ns_last_pid", F_OK) == 0) return std::nullopt;
         return "config:CONFIG_CHECKPOINT_RESTORE (no /proc/sys/kernel/ns_last_pid)";
       },
       std::nullopt},
  };
}

// Decides which parts are checked (into *parts); skips only when none is.
Requirement AnySplitPart(std::vector<SplitPart>* parts) {
  return {[parts]() -> std::optional<std::string> {
    *parts = SplitParts();
    std::string why;
    bool any = false;
    for (SplitPart& p : *parts) {
      p.unchecked = UnknownCapability(p.cap, p.cap_name);
      if (!p.unchecked) p.unchecked = p.unsupported();
      if (p.unchecked) why += (why.empty() ? "" : "; ") + *p.unchecked;
      any = any || !p.unchecked;
    }
    if (any) return std::nullopt;
    return why;
  }};
}

// In a child of a pid namespace of its own, holding exactly `caps`: each operation's outcome.
int SplitCapOps(Channel& ch, const CapList& caps) {
  CKC_CHILD_CHECK(SetCapabilities(caps));
  Put(ch, "sys_admin", YesNo(HasCapability(CAP_SYS_ADMIN, CapSet::kEffective).value_or(true)));
  Put(ch, "caps", ProcessCapabilities());
  Put(ch, "bpf", Closed(CreateArrayMap()));
  Put(ch, "perf", Closed(OpenKernelCpuClock()));
  // ns_last_pid acts on the writer's own pid namespace: the next fork there gets 5000.
  auto wrote = WriteFile("/proc/sys/kernel/ns_last_pid", "4999");
  Put(ch, "ns_last_pid", wrote ? "ok" : "!" + ErrnoName(wrote.error().err));
  if (wrote) {
    CKC_CHILD_TRY(next, Spawn({}, [] { return 0; }));
    Put(ch, "next-pid", fmt::format("{}", next.pid()));
    (void)next.Wait(std::chrono::seconds(5));
  }
  return 0;
}

Result<Observations> SplitCapRun(const CapList& caps) {
  CKC_TRY(r, RunInChild([&](Channel& ch) { return SplitCapOps(ch, caps); }, CLONE_NEWPID));
  if (!r.status.Exited(0)) {
    return Failure("split capabilities child",
                   caps.empty() ? "no capability" : CapabilityName(caps[0]), r.Describe());
  }
  return Parse(r);
}

// What the operations give a process with no capability at all, where a sysctl makes them
// privileged (otherwise the control has nothing to show): "" when nothing is expected.
std::string ExpectedWithout(const std::string& key) {
  if (key == "ns_last_pid") return "!EPERM";
  if (key == "bpf" && SysctlInt("kernel.unprivileged_bpf_disabled", 0) != 0) return "!EPERM";
  if (key == "perf" && SysctlInt("kernel.perf_event_paranoid", 2) >= 1) return "!EACCES";
  return "";
}

// Source: capabilities(7) CAP_BPF, CAP_PERFMON (Linux 5.8) and CAP_CHECKPOINT_RESTORE (5.9);
// bpf(2), perf_event_open(2) ("perf_event_paranoid"), proc(5) /proc/sys/kernel/ns_last_pid.
// A capability this kernel cannot check (not there: kernel:CAP_<X>; its operation compiled
// out; perf_event_paranoid above the documented levels) is left out and named in the property
// "<part>-part"; the row skips when no part can be checked.
// Negative control: the same operations with no capability at all fail (EPERM for bpf while
// kernel.unprivileged_bpf_disabled is set, EACCES for perf while kernel.perf_event_paranoid
// >= 1, EPERM for ns_last_pid always).
TEST(SplitCapabilities, EachGrantsItsOperationWithoutSysAdmin) {
  CKC_BEHAVIOUR("cap.split-caps", "K",
                "CAP_BPF alone lets a process create a BPF map, CAP_PERFMON alone lets it open a "
                "CPU-wide perf event that counts the kernel, and CAP_CHECKPOINT_RESTORE alone "
                "lets it set ns_last_pid of its pid namespace, none of them with CAP_SYS_ADMIN",
                "5.8");
  std::vector<SplitPart> parts;
  CKC_REQUIRE(Root(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID),
              AnySplitPart(&parts));
  ASSERT_OK_AND_ASSIGN(Observations none, SplitCapRun({}));
  CKC_ASSERT_SETUP(none["sys_admin"] == "no")
      << "the control child dropped every capability; saw sys_admin " << none["sys_admin"]
      << ", caps " << none["caps"];
  for (const SplitPart& p : parts) {
    RecordProperty(fmt::format("{}-part", p.key),
                   p.unchecked ? "skipped: " + *p.unchecked : std::string("run"));
    if (p.unchecked) continue;
    ASSERT_OK_AND_ASSIGN(Observations seen, SplitCapRun({p.cap}));
    CKC_ASSERT_SETUP(seen["sys_admin"] == "no")
        << "the child kept " << p.cap_name << " only; saw sys_admin " << seen["sys_admin"]
        << ", caps " << seen["caps"];
    EXPECT_EQ(seen[p.key], "ok") << p.key << " with only " << p.cap_name << " (caps "
                                 << seen["caps"] << ", perf_event_paranoid "
                                 << ReadSysctl("kernel.perf_event_paranoid").value_or("?") << ")";
    if (p.key == std::string("ns_last_pid")) {
      EXPECT_EQ(seen["next-pid"], "5000") << "the fork after ns_last_pid=4999";
    }
    if (std::string want = ExpectedWithout(p.key); !want.empty()) {
      EXPECT_EQ(none[p.key], want) << "control: " << p.key << " with no capability";
    }
  }
}

// --- proc mount options -------------------------------------------------------------------

// Probes proc's mount options in a throwaway mount and pid namespace: subset=pid must be known
// (kernel:proc-subset-pid otherwise); *hidepid becomes "invisible", or "2" where only the
// number is known.
Requirement ProcOptions(std::string* hidepid) {
  return {[hidepid]() -> std::optional<std::string> {
    std::string dir = TestDir() + "/probe";
    if (!MakeDirs(dir)) return std::nullopt;
    auto r = RunInChild(
        [&](Channel& ch) {
          CKC_CHILD_CHECK(MakeRootPrivate());
          for (const char* opt : {"subset=pid", "hidepid=invisible"}) {
            auto m = MountFs("proc", dir, "proc", kProcFlags, opt);
            Put(ch, opt, m ? "ok" : ErrnoName(m.error().err));
          }
          return 0;
        },
        CLONE_NEWNS | CLONE_NEWPID);
    if (!r) return std::nullopt;  // the test's own setup will show what is wrong
    *hidepid = Value(*r, "hidepid=invisible") == "EINVAL" ? "2" : "invisible";
    if (Value(*r, "subset=pid") != "EINVAL") return std::nullopt;
    return "kernel:proc-subset-pid (proc refuses the subset=pid mount option)";
  }};
}

// Names in `dir`, or an empty list.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  return out;
}

bool IsPidName(const std::string& name) {
  return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
}

// As uid 65534, next to pid 1 (root): what each proc mount shows.
int ReadProcs(Channel& ch) {
  CKC_CHILD_CHECK(BecomeUser(kNobody, kNobody));
  std::string me = fmt::format("{}", ::getpid());
  auto has = [](const std::string& path) { return YesNo(::access(path.c_str(), F_OK) == 0); };
  Put(ch, "plain-sees-1", has("/proc/1"));
  Put(ch, "hidden-sees-1", has("/tmp/hidden/1"));
  Put(ch, "hidden-sees-self", has("/tmp/hidden/" + me));
  auto listed = Names("/tmp/hidden");
  Put(ch, "hidden-lists-1", YesNo(std::find(listed.begin(), listed.end(), "1") != listed.end()));
  Put(ch, "plain-has-meminfo", has("/proc/meminfo"));
  Put(ch, "subset-has-meminfo", has("/tmp/subset/meminfo"));
  Put(ch, "subset-sees-self", has("/tmp/subset/" + me));
  std::string others;
  for (const auto& n : Names("/tmp/subset")) {
    if (!IsPidName(n) && n != "self" && n != "thread-self")
      others += (others.empty() ? "" : ",") + n;
  }
  Put(ch, "subset-non-pid", others.empty() ? "none" : others);
  return 0;
}

// Source: proc(5) "Mount options" (hidepid=invisible / 2: /proc/PID of other users are
// invisible; subset=pid: only the process-related entries, Linux 5.8);
// Documentation/filesystems/proc.rst "Mount options".
// Negative control: the plain proc mount of the same namespace must show pid 1 and meminfo to
// the same reader; a kernel that refuses subset=pid skips kernel:proc-subset-pid.
TEST(ProcMount, HidepidAndSubsetPid) {
  CKC_BEHAVIOUR("proc.hidepid", "K",
                "to a reader that is not root, proc mounted with hidepid=invisible (2) does not "
                "show processes of other users, and proc mounted with subset=pid shows only the "
                "process directories",
                "5.8");
  std::string hidepid;
  CKC_REQUIRE(Root(), NamespaceType(NsType::kPid), NamespaceType(NsType::kMnt),
              NamespaceQuota(CLONE_NEWNS | CLONE_NEWPID), ProcOptions(&hidepid));
  RecordProperty("hidepid", hidepid);
  auto box = Sandbox()
                 .Namespaces(CLONE_NEWNS | CLONE_NEWPID)
                 .MountProc()
                 .Then("tmpfs on /tmp", [] { return Keep(MountTmpfs("/tmp", "size=64k")); })
                 .Then("proc mounts", [hidepid]() -> Status {
                   for (const char* d : {"/tmp/hidden", "/tmp/subset"}) CKC_CHECK(MakeDirs(d));
                   CKC_CHECK(Keep(
                       MountFs("proc", "/tmp/hidden", "proc", kProcFlags, "hidepid=" + hidepid)));
                   return Keep(MountFs("proc", "/tmp/subset", "proc", kProcFlags, "subset=pid"));
                 });
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(box, [](Channel& ch) {
                         // This process, pid 1, is root's: the reader is another user's.
                         CKC_CHILD_TRY(reader, Spawn({}, [&] { return ReadProcs(ch); }));
                         CKC_CHILD_TRY(st, reader.Wait(std::chrono::seconds(10)));
                         return st.Exited(0) ? 0 : 3;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(Value(r, "plain-sees-1"), "yes") << "control: the plain proc shows pid 1 to uid 65534";
  EXPECT_EQ(Value(r, "hidden-sees-1"), "no") << "hidepid=" << hidepid << ": root's pid 1";
  EXPECT_EQ(Value(r, "hidden-lists-1"), "no") << "hidepid=" << hidepid << ": readdir shows pid 1";
  EXPECT_EQ(Value(r, "hidden-sees-self"), "yes") << "hidepid: the reader's own process";
  EXPECT_EQ(Value(r, "plain-has-meminfo"), "yes") << "control: the plain proc has meminfo";
  EXPECT_EQ(Value(r, "subset-has-meminfo"), "no") << "subset=pid must hide /proc/meminfo";
  EXPECT_EQ(Value(r, "subset-non-pid"), "none") << "subset=pid lists only process entries";
  EXPECT_EQ(Value(r, "subset-sees-self"), "yes") << "subset=pid keeps the process directories";
}

// The helper: whether bit `cap` is set in "CapPrm:\t0000000000000400" of /proc/self/status.
int PermittedHas(int cap) {
  auto status = ReadFile("/proc/self/status");
  if (!status) return 2;
  auto pos = status->find("CapPrm:");
  if (pos == std::string::npos) return 2;
  unsigned long long mask = std::strtoull(status->c_str() + pos + 7, nullptr, 16);
  return (mask >> cap) & 1 ? kHelperHasCap : kHelperLacksCap;
}

}  // namespace
}  // namespace ckc::test

// glibc passes (argc, argv, envp) to ELF constructors: the helper runs before GoogleTest's main.
__attribute__((constructor)) static void RunAsCapabilityHelper(int argc, char** argv, char**) {
  if (argc == 3 && std::strcmp(argv[1], ckc::test::kCapHelperFlag) == 0) {
    ::_exit(ckc::test::PermittedHas(std::atoi(argv[2])));
  }
}
