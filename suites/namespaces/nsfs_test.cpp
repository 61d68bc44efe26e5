// Namespace files and joining: the ioctl_ns(2) queries, setns() with a pidfd into several
// namespaces at once, and setns() into a pid namespace (which moves only the caller's children).
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include "namespaces.h"
#include "ns_requirements.h"
#include "ns_support.h"
#include "nsfs.h"
#include "pidfd.h"

namespace ckc::test {
namespace {

using std::chrono::seconds;

// A sandboxed child that waits for "go", so its namespaces can be looked at while it lives.
Result<Sandboxed> Waiter(const Sandbox& box) {
  return box.Run([](Channel& ch) { return ch.Expect("go", seconds(60)) ? 0 : 1; });
}

std::string IdOfFd(const Result<UniqueFd>& fd) {
  if (!fd) return ErrnoName(fd.error().err);
  auto id = NsIdOfPath(fmt::format("/proc/self/fd/{}", fd->get()));
  return id ? NsIdString(*id) : id.error().Message();
}

std::string ErrOf(const Status& st) { return st ? "ok" : ErrnoName(st.error().err); }

// Inside the child's user and pid namespaces: what the ioctls answer about namespaces whose
// parent or owner lies outside (`outer_uts` is the test's uts namespace, inherited open).
int IoctlsFromInside(Channel& ch, int outer_uts) {
  // /proc/self, not /proc/<getpid()>: the host's proc knows the child by its outer PID.
  CKC_CHILD_TRY(user, OpenFile("/proc/self/ns/user", O_RDONLY));
  CKC_CHILD_TRY(pid, OpenFile("/proc/self/ns/pid", O_RDONLY));
  Put(ch, "inside-user-parent", IdOfFd(NsParent(user.get())));
  Put(ch, "inside-pid-parent", IdOfFd(NsParent(pid.get())));
  Put(ch, "inside-outer-uts-owner", IdOfFd(OwningUserNs(outer_uts)));
  auto owner = NsOwnerUid(user.get());
  Put(ch, "inside-owner-uid", owner ? fmt::format("{}", *owner) : ErrnoName(owner.error().err));
  return ch.Expect("go", seconds(60)) ? 0 : 1;
}

// Source: ioctl_ns(2) (NS_GET_PARENT: EPERM "outside of the caller's namespace scope", also for
// the initial user or pid namespace, EINVAL for a non-hierarchical type; NS_GET_NSTYPE returns
// the CLONE_NEW* value; NS_GET_OWNER_UID in the caller's user namespace, EINVAL for another
// type; NS_GET_USERNS EPERM for an owner outside the scope).
// Negative control: a kernel without NS_GET_NSTYPE / NS_GET_OWNER_UID answers ENOTTY and skips
// kernel:NS_GET_NSTYPE; a parent handed out across the caller's scope fails the row.
TEST(Namespaces, Ioctls) {
  CKC_BEHAVIOUR("ns.ioctls", "K",
                "namespace files answer NS_GET_PARENT, NS_GET_NSTYPE and NS_GET_OWNER_UID the way "
                "ioctl_ns(2) describes, and refuse with EPERM to hand out a parent or owner that "
                "lies beyond the caller's namespace scope");
  CKC_REQUIRE(OwnUserns(), NamespaceType(NsType::kPid), NamespaceType(NsType::kUts),
              NamespaceQuota(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS),
              Interface("kernel:NS_GET_NSTYPE", ProbeNsIoctls));
  ASSERT_OK_AND_ASSIGN(UniqueFd outer_uts, OpenNs(::getpid(), NsType::kUts));
  int outer_uts_fd = outer_uts.get();
  auto box = Sandbox().MapRootTo(::geteuid(), ::getegid()).Namespaces(CLONE_NEWPID | CLONE_NEWUTS);
  ASSERT_OK_AND_ASSIGN(Sandboxed child, box.Run([outer_uts_fd](Channel& ch) {
    return IoctlsFromInside(ch, outer_uts_fd);
  }));
  ChildResult inside;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string msg, child.channel.Recv(seconds(10)));
    inside.reports.push_back(msg);
  }
  pid_t pid = child.child.pid();
  ASSERT_OK_AND_ASSIGN(UniqueFd user, OpenNs(pid, NsType::kUser));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidns, OpenNs(pid, NsType::kPid));
  ASSERT_OK_AND_ASSIGN(UniqueFd uts, OpenNs(pid, NsType::kUts));
  ASSERT_OK_AND_ASSIGN(NsId my_user, NsIdOf(::getpid(), NsType::kUser));
  ASSERT_OK_AND_ASSIGN(NsId my_pid, NsIdOf(::getpid(), NsType::kPid));
  ASSERT_OK_AND_ASSIGN(UniqueFd my_user_fd, OpenNs(::getpid(), NsType::kUser));

  EXPECT_EQ(IdOfFd(NsParent(user.get())), NsIdString(my_user)) << "parent of the child's user ns";
  EXPECT_EQ(IdOfFd(NsParent(pidns.get())), NsIdString(my_pid)) << "parent of the child's pid ns";
  EXPECT_THAT(NsParent(uts.get()), FailsWith(EINVAL)) << "uts namespaces have no hierarchy";
  EXPECT_THAT(NsParent(my_user_fd.get()), FailsWith(EPERM))
      << "the parent of the caller's own user namespace is beyond its scope";
  EXPECT_THAT(NsOwnerUid(user.get()), testing::Optional(::geteuid()))
      << "owner of the child's user ns, in the test's user namespace";
  EXPECT_THAT(NsOwnerUid(uts.get()), FailsWith(EINVAL)) << "NS_GET_OWNER_UID on a uts namespace";
  for (NsType t : kAllNsTypes) {
    auto fd = OpenNs(::getpid(), t);
    if (!fd) continue;  // a type this kernel does not have
    EXPECT_THAT(NsTypeOf(fd->get()), testing::Optional(NsCloneFlag(t))) << NsName(t);
  }

  EXPECT_EQ(Value(inside, "inside-user-parent"), "EPERM") << inside.Describe();
  EXPECT_EQ(Value(inside, "inside-pid-parent"), "EPERM") << inside.Describe();
  EXPECT_EQ(Value(inside, "inside-outer-uts-owner"), "EPERM")
      << "NS_GET_USERNS of the test's uts namespace, whose owner is outside; " << inside.Describe();
  EXPECT_EQ(Value(inside, "inside-owner-uid"), "0") << "the creator is root inside the namespace";
  ASSERT_OK(child.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.child.Wait(seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

constexpr std::array kJoined = {NsType::kUts, NsType::kNet, NsType::kIpc};

// In a child: setns(pidfd, types) and what it then is in.
Result<ChildResult> JoinThroughPidfd(int pidfd, int types) {
  return RunInChild([pidfd, types](Channel& ch) {
    Put(ch, "setns", ErrOf(SetnsPidfd(pidfd, types)));
    for (NsType t : kJoined) {
      auto id = NsIdOfPath(fmt::format("/proc/self/ns/{}", NsName(t)));
      Put(ch, std::string(NsName(t)), id ? NsIdString(*id) : id.error().Message());
    }
    return Put(ch, "nodename", Nodename());
  });
}

// Source: setns(2) ("fd can refer to a PID file descriptor ... nstype is a bit mask of one or
// more CLONE_NEW* constants ... the caller is moved into all of them"; ESRCH "the process it
// refers to no longer exists"); tools/testing/selftests/pidfd/pidfd_setns_test.c.
// Negative control: a kernel that does not take a pidfd in setns() answers EINVAL and skips
// kernel:setns-pidfd; a caller left in any of its own namespaces fails the row.
TEST(Namespaces, SetnsPidfd) {
  CKC_BEHAVIOUR("ns.setns-pidfd", "K",
                "setns() given a pidfd and several CLONE_NEW* flags moves the caller into all of "
                "those namespaces of that process in one call, and fails with ESRCH once the "
                "process has exited",
                "5.8");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts), NamespaceType(NsType::kNet),
              NamespaceType(NsType::kIpc),
              NamespaceQuota(CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWIPC),
              Interface("kernel:pidfd_open", ProbePidfdOpen),
              Interface("kernel:setns-pidfd", ProbeSetnsPidfd));
  int types = CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWIPC;
  ASSERT_OK_AND_ASSIGN(
      Sandboxed target,
      Waiter(Sandbox().UserNsUnlessRoot().Namespaces(types).Hostname("ckc-setns-pidfd")));
  // Unprivileged, the target's namespaces belong to its user namespace, which is joined too.
  if (::geteuid() != 0) types |= CLONE_NEWUSER;
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, PidfdOpen(target.child.pid()));
  ASSERT_OK_AND_ASSIGN(ChildResult joined, JoinThroughPidfd(pidfd.get(), types));
  EXPECT_TRUE(joined.status.Exited(0)) << joined.Describe();
  EXPECT_EQ(Value(joined, "setns"), "ok") << joined.Describe();
  for (NsType t : kJoined) {
    ASSERT_OK_AND_ASSIGN(NsId want, NsIdOf(target.child.pid(), t));
    EXPECT_EQ(Value(joined, std::string(NsName(t))), NsIdString(want))
        << "expected the caller in the target's " << NsName(t) << " namespace";
  }
  EXPECT_EQ(Value(joined, "nodename"), "ckc-setns-pidfd");

  ASSERT_OK(target.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(bool exited, PidfdPoll(pidfd.get(), seconds(10)));
  CKC_ASSERT_SETUP(exited) << "the target exits within 10 s once told; its pidfd never polled "
                              "readable";
  ASSERT_OK_AND_ASSIGN(ChildResult zombie, JoinThroughPidfd(pidfd.get(), types));
  EXPECT_EQ(Value(zombie, "setns"), "ESRCH") << "setns() through the pidfd of an exited, "
                                             << "unreaped process; " << zombie.Describe();
  ASSERT_OK_AND_ASSIGN(ExitStatus st, target.child.Wait(seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
  ASSERT_OK_AND_ASSIGN(ChildResult reaped, JoinThroughPidfd(pidfd.get(), types));
  EXPECT_EQ(Value(reaped, "setns"), "ESRCH")
      << "setns() through the pidfd of a reaped process; " << reaped.Describe();
}

// In a child of the test: setns() into the pid namespace at `ns_fd` (joining its owner first
// when unprivileged), then start a child and report where each of them is.
int JoinPidNsThenFork(Channel& ch, int ns_fd) {
  Put(ch, "pid-before", fmt::format("{}", ::getpid()));
  auto in = EnterNs(ns_fd, NsType::kPid);
  Put(ch, "setns", ErrOf(in));
  if (!in) return 1;
  Put(ch, "pid-after", fmt::format("{}", ::getpid()));
  auto own = NsIdOfPath("/proc/self/ns/pid");
  auto for_children = NsIdOfPath("/proc/self/ns/pid_for_children");
  Put(ch, "own-ns", own ? NsIdString(*own) : own.error().Message());
  Put(ch, "for-children", for_children ? NsIdString(*for_children) : "?");
  auto child = Spawn({}, [&ch] {
    auto ns = NsIdOfPath("/proc/self/ns/pid");
    Put(ch, "child-ns", ns ? NsIdString(*ns) : ns.error().Message());
    Put(ch, "child-getpid", fmt::format("{}", ::getpid()));
    return Put(ch, "child-getppid", fmt::format("{}", ::getppid()));
  });
  if (!child) return Put(ch, "fork", child.error().Message(), 1);
  auto st = child->Wait(seconds(10));
  return st && st->Exited(0) ? 0 : 1;
}

// Source: setns(2) CLONE_NEWPID ("the caller's children will be created in that namespace ...
// the PID namespace of the caller does not change"); pid_namespaces(7) (pid_for_children).
// Negative control: a setns() refused for want of CAP_SYS_ADMIN over the target's owner fails
// the row (`setns` is not ok); a child left in the caller's namespace fails it too.
TEST(PidNamespace, SetnsForChildren) {
  CKC_BEHAVIOUR("pid.setns-for-children", "K",
                "after setns() into a pid namespace the caller keeps its PID and its own pid "
                "namespace, and its next child is born inside the target namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(Sandboxed init,
                       Waiter(Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWPID)));
  ASSERT_OK_AND_ASSIGN(UniqueFd ns, OpenNs(init.child.pid(), NsType::kPid));
  ASSERT_OK_AND_ASSIGN(NsId target, NsIdOf(init.child.pid(), NsType::kPid));
  ASSERT_OK_AND_ASSIGN(NsId mine, NsIdOf(::getpid(), NsType::kPid));
  int ns_fd = ns.get();
  ASSERT_OK_AND_ASSIGN(ChildResult r,
                       RunInChild([ns_fd](Channel& ch) { return JoinPidNsThenFork(ch, ns_fd); }));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(Value(r, "setns"), "ok") << r.Describe();
  EXPECT_EQ(Value(r, "pid-after"), Value(r, "pid-before")) << "the caller's PID changed";
  EXPECT_EQ(Value(r, "own-ns"), NsIdString(mine)) << "the caller's own pid namespace changed";
  EXPECT_EQ(Value(r, "for-children"), NsIdString(target)) << "pid_for_children after setns()";
  EXPECT_EQ(Value(r, "child-ns"), NsIdString(target)) << "the next child's pid namespace";
  EXPECT_EQ(Value(r, "child-getpid"), "2") << "the first process after the target's PID 1";
  EXPECT_EQ(Value(r, "child-getppid"), "0") << "its parent lives outside the namespace";
  ASSERT_OK(init.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, init.child.Wait(seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

}  // namespace
}  // namespace ckc::test
