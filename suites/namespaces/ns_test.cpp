// Namespaces in general: identity (/proc/PID/ns), always-present namespaces, partial clones,
// setns, persistence through bind mounts and destruction with the last reference.
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>
#include <filesystem>
#include <map>
#include <sstream>

#include "mounts.h"
#include "namespaces.h"
#include "ns_support.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;

constexpr std::array kContainerNsTypes = {NsType::kCgroup, NsType::kIpc, NsType::kMnt,
                                          NsType::kNet,    NsType::kPid, NsType::kUser,
                                          NsType::kUts};

// Every link in /proc/PID/ns (including pid_for_children, time_for_children) -> its id.
std::map<std::string, NsId> NsLinks(pid_t pid) {
  std::map<std::string, NsId> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/ns", pid), ec)) {
    if (auto id = NsIdOfPath(e.path().string())) out[e.path().filename()] = *id;
  }
  return out;
}

// A sandboxed child that waits for "go" (so its /proc/PID/ns can be read while it lives).
Result<Sandboxed> Waiter(const Sandbox& box) {
  return box.Run([](Channel& ch) { return ch.Expect("go", std::chrono::seconds(60)) ? 0 : 1; });
}

// Config option that compiles a namespace type in; "" for mnt (always there).
std::string NsConfig(NsType type) {
  switch (type) {
    case NsType::kCgroup:
      return "CONFIG_CGROUPS";
    case NsType::kIpc:
      return "CONFIG_IPC_NS";
    case NsType::kMnt:
      return "";
    case NsType::kNet:
      return "CONFIG_NET_NS";
    case NsType::kPid:
      return "CONFIG_PID_NS";
    case NsType::kTime:
      return "CONFIG_TIME_NS";
    case NsType::kUser:
      return "CONFIG_USER_NS";
    case NsType::kUts:
      return "CONFIG_UTS_NS";
  }
  return "";
}

// A kernel thread's pid (kthreadd is 2 on every kernel): kernel threads live in the initial
// namespaces, so their ns links show the initial ones without relying on /proc/1.
std::optional<pid_t> KernelThread() {
  auto stat = ReadFile("/proc/2/stat");
  if (!stat) return std::nullopt;
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(stat->substr(close + 2));
  std::string state, ppid, pgrp, session, tty, tpgid;
  unsigned long flags = 0;
  in >> state >> ppid >> pgrp >> session >> tty >> tpgid >> flags;
  constexpr unsigned long kPfKthread = 0x00200000;
  if ((flags & kPfKthread) == 0) return std::nullopt;
  return 2;
}

// Source: F "A process' namespaces are represented under the /proc/<pid>/ns directory ... They are
// in the same namespace"; D "Namespaces lifecycle" (compare the pseudo-files); namespaces(7).
// Negative control: user.max_user_namespaces=0 skips non-root; a child also in CLONE_NEWIPC fails.
TEST(Namespaces, ProcLinks) {
  CKC_BEHAVIOUR("ns.proc-links", "F",
                "each process has a /proc/PID/ns link per namespace type, and two processes share "
                "a namespace exactly when those links have the same (dev, inode)");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kCgroup), NamespaceType(NsType::kIpc),
              NamespaceType(NsType::kNet), NamespaceType(NsType::kPid),
              NamespaceType(NsType::kUser), NamespaceType(NsType::kUts),
              NamespaceQuota(CLONE_NEWUTS));
  ASSERT_OK_AND_ASSIGN(Sandboxed same, Waiter(Sandbox()));
  ASSERT_OK_AND_ASSIGN(Sandboxed other,
                       Waiter(Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWUTS)));
  const bool new_user = ::geteuid() != 0;
  for (NsType t : kContainerNsTypes) {
    std::string name(NsName(t));
    for (pid_t pid : {::getpid(), same.child.pid(), other.child.pid()}) {
      // The link reads "<type>:[<inode>]" and the inode is the one stat() reports.
      std::error_code ec;
      std::string target = fs::read_symlink(NsPath(pid, t), ec).string();
      auto id = NsIdOf(pid, t);
      ASSERT_TRUE(id.has_value()) << id.error().Message();
      EXPECT_EQ(target, fmt::format("{}:[{}]", name, id->ino)) << "pid " << pid;
    }
    NsId mine = *NsIdOf(::getpid(), t);
    EXPECT_EQ(*NsIdOf(same.child.pid(), t), mine)
        << name << ": a child made without CLONE_NEW* flags shares it, yet the ids differ";
    bool should_differ = t == NsType::kUts || (t == NsType::kUser && new_user);
    EXPECT_EQ(*NsIdOf(other.child.pid(), t) == mine, !should_differ)
        << name << ": expected the ids to " << (should_differ ? "differ" : "be equal")
        << " for a child made with CLONE_NEWUTS" << (new_user ? "|CLONE_NEWUSER" : "") << ", saw "
        << NsIdString(*NsIdOf(other.child.pid(), t)) << " vs " << NsIdString(mine);
  }
  for (auto* box : {&same, &other}) {
    ASSERT_OK(box->channel.Send("go"));
    ASSERT_OK_AND_ASSIGN(ExitStatus st, box->child.Wait(std::chrono::seconds(10)));
    EXPECT_TRUE(st.Exited(0)) << st.Describe();
  }
}

// Why the initial namespaces cannot be read through kernel thread 2 here, or nullopt. Only a
// refused access (ptrace rules: EACCES/EPERM for an unprivileged caller) or a /proc/2 that is
// not a kernel thread skips; any other error is left to the assertions.
std::optional<std::string> InitialNsUnreadable(std::optional<pid_t> kthread) {
  if (!kthread) return "setup:no-kernel-thread-visible (pid 2 is not a kernel thread here)";
  auto id = NsIdOf(*kthread, NsType::kUts);
  if (id || (id.error().err != EACCES && id.error().err != EPERM)) return std::nullopt;
  return fmt::format(
      "needs:root (the initial namespaces are read through kernel thread 2's "
      "/proc/2/ns, which needs ptrace access: {}; the other parts were checked)",
      id.error().Message());
}

// Source: D "Namespaces are always active" (one namespace of each type, containing all the
// processes); include/linux/proc_ns.h PROC_*_INIT_INO for the initial namespaces.
// Negative control: a CLONE_NEWUTS child fails the sharing part; non-root skips the /proc/2 part.
TEST(Namespaces, AlwaysActive) {
  CKC_BEHAVIOUR("ns.always-active", "D",
                "every process is in a namespace of each type even with no container about: a "
                "child cloned with no CLONE_NEW* flag is in all of its parent's, and the initial "
                "ones carry fixed inode numbers");
  // Probed before anything runs: only the initial-inode part depends on /proc/2.
  const auto kthread = KernelThread();
  const auto initial_skip = InitialNsUnreadable(kthread);
  auto links = NsLinks(::getpid());
  for (NsType t : kAllNsTypes) {
    Tristate built = NsConfig(t).empty() ? Tristate::kYes : RunningKernelConfig().Has(NsConfig(t));
    if (built == Tristate::kNo || (built == Tristate::kUnknown && t == NsType::kTime)) continue;
    EXPECT_TRUE(links.contains(std::string(NsName(t))))
        << "expected /proc/self/ns/" << NsName(t) << " (the kernel has this namespace type)";
  }
  ASSERT_OK_AND_ASSIGN(Sandboxed child, Waiter(Sandbox()));
  auto theirs = NsLinks(child.child.pid());
  EXPECT_EQ(theirs.size(), links.size());
  for (const auto& [name, id] : links) {
    EXPECT_TRUE(theirs.contains(name) && theirs[name] == id)
        << name << ": a child made without CLONE_NEW* flags must share it; parent "
        << NsIdString(id) << ", child "
        << (theirs.contains(name) ? NsIdString(theirs[name]) : "none");
  }
  ASSERT_OK(child.channel.Send("go"));
  (void)child.child.Wait(std::chrono::seconds(10));
  if (initial_skip) GTEST_SKIP() << *initial_skip;
  for (NsType t : {NsType::kUts, NsType::kIpc, NsType::kUser, NsType::kPid, NsType::kCgroup}) {
    auto id = NsIdOf(*kthread, t);
    if (!id && id.error().err == ENOENT && !links.contains(std::string(NsName(t)))) continue;
    ASSERT_TRUE(id.has_value()) << id.error().Message();
    EXPECT_EQ(id->ino, InitialNsInode(t))
        << "kernel thread's " << NsName(t) << " namespace: expected the "
        << "fixed initial inode " << InitialNsInode(t) << ", saw " << id->ino;
  }
}

// Source: D "Namespaces can be used independently" (a new process can re-use none / all / some
// of the namespaces of its parent); clone(2) CLONE_NEWUTS.
// Negative control: non-root skips (needs:root); a child also given CLONE_NEWIPC fails.
TEST(Namespaces, ClonePartial) {
  CKC_BEHAVIOUR("ns.clone-partial", "D",
                "a child made with CLONE_NEWUTS alone gets a uts namespace of its own and keeps "
                "every other namespace of its parent");
  CKC_REQUIRE(Root(), NamespaceType(NsType::kUts), NamespaceQuota(CLONE_NEWUTS));
  ASSERT_OK_AND_ASSIGN(Sandboxed child, Waiter(Sandbox().Namespaces(CLONE_NEWUTS)));
  auto mine = NsLinks(::getpid());
  auto theirs = NsLinks(child.child.pid());
  CKC_ASSERT_SETUP(theirs.size() == mine.size())
      << "the child's /proc/PID/ns read like the parent's; " << theirs.size() << " links, not "
      << mine.size();
  for (const auto& [name, id] : mine) {
    bool equal = theirs.contains(name) && theirs[name] == id;
    EXPECT_EQ(equal, name != "uts")
        << name << ": expected " << (name == "uts" ? "a new" : "the parent's")
        << " namespace; parent " << NsIdString(id) << ", child " << NsIdString(theirs[name]);
  }
  ASSERT_OK(child.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.child.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

// Source: D "Manipulating namespaces" (enter a namespace with setns(); the nsenter tool); setns(2).
// Negative control: user.max_user_namespaces=0 skips non-root; setns on our own uts fd fails.
TEST(Namespaces, SetnsEnter) {
  CKC_BEHAVIOUR("ns.setns-enter", "D",
                "setns() on the namespace file of another process moves the caller into that "
                "namespace, the way nsenter works");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts), NamespaceQuota(CLONE_NEWUTS));
  ASSERT_OK_AND_ASSIGN(Sandboxed target,
                       Waiter(Sandbox().UserNsUnlessRoot().Hostname("ckc-setns-target")));
  ASSERT_OK_AND_ASSIGN(NsId target_uts, NsIdOf(target.child.pid(), NsType::kUts));
  pid_t target_pid = target.child.pid();
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([target_pid](Channel& ch) {
                         auto fd = OpenNs(target_pid, NsType::kUts);
                         if (!fd) return Report(ch, "open: " + fd.error().Message());
                         if (auto st = EnterNs(fd->get(), NsType::kUts); !st)
                           return Report(ch, "setns=" + ErrnoName(st.error().err));
                         Put(ch, "nodename", Nodename());
                         return Put(ch, "uts", NsIdString(*NsIdOf(::getpid(), NsType::kUts)));
                       }));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "uts"), NsIdString(target_uts))
      << "expected the caller in the target's uts namespace";
  EXPECT_EQ(Value(r, "nodename"), "ckc-setns-target") << r.Describe();
  EXPECT_NE(Nodename(), "ckc-setns-target") << "the test process itself must not have moved";
  ASSERT_OK(target.channel.Send("go"));
  (void)target.child.Wait(std::chrono::seconds(10));
}

// In a keeper with its own mount namespace: a child makes a uts namespace, the keeper bind-mounts
// its ns file, the child exits, and the keeper enters the namespace through the bind mount.
int KeepAliveThroughBind(Channel& ch, const std::string& dir) {
  auto inner = Channel::Create();
  if (!inner) return Report(ch, "setup: " + inner.error().Message());
  auto owner = Spawn({.flags = CLONE_NEWUTS}, [&] {
    inner->BecomeChild();
    if (::sethostname("ckc-kept", 8) != 0) return 1;
    return inner->Send("ready") && inner->Expect("exit") ? 0 : 1;
  });
  if (!owner) return Report(ch, "setup: " + owner.error().Message());
  inner->BecomeParent();
  if (!inner->Expect("ready")) return Report(ch, "setup: uts owner did not start");
  auto kept = BindNsFile(owner->pid(), NsType::kUts, dir + "/uts");
  if (!kept) return Report(ch, "setup: " + kept.error().Message());
  Put(ch, "uts-while-alive", NsIdString(*NsIdOf(owner->pid(), NsType::kUts)));
  (void)inner->Send("exit");
  auto st = owner->Wait(std::chrono::seconds(10));
  Put(ch, "owner", st ? st->Describe() : st.error().Message());
  auto id = NsIdOfPath(kept->target());
  Put(ch, "uts-after-exit", id ? NsIdString(*id) : id.error().Message());
  auto fd = OpenFile(kept->target(), O_RDONLY);
  if (!fd) return Report(ch, "open: " + fd.error().Message());
  if (auto in = EnterNs(fd->get(), NsType::kUts); !in)
    return Put(ch, "setns", ErrnoName(in.error().err), 1);
  return Put(ch, "nodename", Nodename());
}

// Source: D "Namespaces lifecycle" (it is possible to preserve a namespace by bind-mounting its
// pseudo-file); namespaces(7) "The /proc/[pid]/ns/ directory".
// Negative control: unmounting the bind before the owner exits makes setns fail: fails.
TEST(Namespaces, BindKeepsAlive) {
  CKC_BEHAVIOUR("ns.bind-keeps-alive", "D",
                "a bind mount of /proc/PID/ns/X keeps that namespace in existence after its last "
                "process has exited, and setns() through the mount enters it");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts),
              NamespaceQuota(CLONE_NEWNS | CLONE_NEWUTS));
  std::string dir = TestDir();
  ASSERT_OK_AND_ASSIGN(ChildResult r,
                       RunBoxed(Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWNS),
                                [&](Channel& ch) { return KeepAliveThroughBind(ch, dir); }));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "owner"), "exited with 0") << r.Describe();
  EXPECT_EQ(Value(r, "uts-after-exit"), Value(r, "uts-while-alive"))
      << "expected the bind mount to still name the namespace after its last process exited";
  EXPECT_EQ(Value(r, "nodename"), "ckc-kept")
      << "expected setns() through the bind mount to enter the kept namespace; " << r.Describe();
}

// Source: D "Namespaces lifecycle" (when the last process of a namespace exits, the namespace is
// destroyed; all the associated resources are then removed); namespaces(7) "Namespace lifetime";
// mq_overview(7) (each ipc namespace has its own mqueue file system).
// Negative control: CONFIG_POSIX_MQUEUE=n skips; a second ns fd left open keeps the queue.
TEST(Namespaces, DestroyedWithLastProcess) {
  CKC_BEHAVIOUR("ns.destroyed-with-last-process", "D",
                "a namespace is destroyed, and its resources released, once no process, bind mount "
                "or open file descriptor refers to it any more");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kIpc), Config("CONFIG_POSIX_MQUEUE"),
              NamespaceQuota(CLONE_NEWIPC | CLONE_NEWNS));
  // The ipc namespace's resource: a POSIX message queue on its mqueue file system.
  std::string dir = TestDir() + "/mq";
  ASSERT_OK(MakeDirs(dir, 0755));
  auto box = Sandbox()
                 .UserNsUnlessRoot()
                 .Namespaces(CLONE_NEWIPC | CLONE_NEWNS)
                 .Then("mqueue", [&]() -> Status {
                   CKC_TRY(m, MountFs("mqueue", dir, "mqueue"));
                   m.Release();
                   mqd_t q = ::mq_open("/ckc-destroyed", O_CREAT | O_RDWR, 0600, nullptr);
                   if (q == static_cast<mqd_t>(-1)) return ErrnoError("mq_open", "/ckc-destroyed");
                   ::mq_close(q);
                   return {};
                 });
  ASSERT_OK_AND_ASSIGN(Sandboxed owner, Waiter(box));
  // Watch the queue itself from outside (through the owner's root); the watch pins no mount.
  std::string queue = fmt::format("/proc/{}/root{}/ckc-destroyed", owner.child.pid(), dir);
  ASSERT_OK_AND_ASSIGN(UnmountWatch watch, UnmountWatch::Create(queue));
  ASSERT_OK_AND_ASSIGN(UniqueFd held, OpenNs(owner.child.pid(), NsType::kIpc));
  ASSERT_OK(owner.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, owner.child.Wait(std::chrono::seconds(10)));
  CKC_ASSERT_SETUP(st.Exited(0)) << "the queue's owner exits 0 once told; it " << st.Describe();

  // An open ns fd still keeps it (and its queue): enter it and open the queue.
  int held_fd = held.get();
  ASSERT_OK_AND_ASSIGN(ChildResult probe, RunInChild([held_fd](Channel& ch) {
                         if (auto in = EnterNs(held_fd, NsType::kIpc); !in)
                           return Report(ch, "setns: " + in.error().Message());
                         mqd_t q = ::mq_open("/ckc-destroyed", O_RDONLY);
                         PutCall(ch, "mq_open", q == static_cast<mqd_t>(-1) ? -1 : 0);
                         return 0;
                       }));
  EXPECT_EQ(Value(probe, "mq_open"), "ok")
      << "expected the namespace to live on while an fd refers "
      << "to it; " << probe.Describe();
  ASSERT_OK_AND_ASSIGN(bool early, watch.WaitUnmounted(std::chrono::milliseconds(0)));
  EXPECT_FALSE(early) << "the queue's file system went away while an fd still held the namespace";

  held.Reset();  // the last reference: no process, no bind mount, no fd
  ASSERT_OK_AND_ASSIGN(bool gone, watch.WaitUnmounted(std::chrono::seconds(20)));
  EXPECT_TRUE(gone) << "expected the ipc namespace's mqueue file system (and its queue) to be torn "
                    << "down within 20 s of the last reference going; it was not";
}

}  // namespace
}  // namespace ckc::test
