// PID namespaces: numbering from 1, unshare(CLONE_NEWPID) semantics, /proc, signals, nesting
// and the death of PID 1. Runs unprivileged through a user namespace when not root.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <filesystem>
#include <sstream>
#include <vector>

#include "namespaces.h"
#include "ns_support.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;

Sandbox PidBox() { return Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWPID); }

// The NSpid line of /proc/self/status: one pid per nested pid namespace, outermost first
// (as seen from the pid namespace of the /proc that is read).
std::string NsPids() {
  auto status = ReadFile("/proc/self/status");
  if (!status) return "?";
  auto pos = status->find("NSpid:");
  if (pos == std::string::npos) return "?";
  std::istringstream in(status->substr(pos + 6, status->find('\n', pos) - pos - 6));
  std::string out;
  for (std::string p; in >> p;) out += (out.empty() ? "" : " ") + p;
  return out;
}

std::string ProcSelf() {
  std::error_code ec;
  return fs::read_symlink("/proc/self", ec).string();
}

// Source: D "PID namespace" (each PID namespace has its own numbering, starting at 1);
// pid_namespaces(7) ("the first process created in a new namespace has the PID 1").
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// a child made without CLONE_NEWPID keeps its outer pid and fails it.
TEST(PidNamespace, FirstIs1) {
  CKC_BEHAVIOUR("pid.first-is-1", "D",
                "the first process of a new pid namespace gets PID 1 there, and getppid() returns "
                "0 because its parent lives outside");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(PidBox(), [](Channel& ch) {
                         Put(ch, "pid", fmt::format("{}", ::getpid()));
                         return Put(ch, "ppid", fmt::format("{}", ::getppid()));
                       }));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "pid"), "1") << "getpid() of the first process in the namespace";
  EXPECT_EQ(Value(r, "ppid"), "0") << "getppid(): its parent is outside the namespace";
}

int UnshareThenFork(Channel& ch) {
  auto pid_ns = NsIdOf(::getpid(), NsType::kPid);
  Put(ch, "pid-before", fmt::format("{}", ::getpid()));
  PutCall(ch, "unshare", ::unshare(CLONE_NEWPID));
  Put(ch, "pid-after", fmt::format("{}", ::getpid()));
  auto after = NsIdOf(::getpid(), NsType::kPid);
  Put(ch, "own-ns-changed", YesNo(!pid_ns || !after || *pid_ns != *after));
  if (after) Put(ch, "own-ns", NsIdString(*after));
  auto inner = Channel::Create();
  if (!inner) return Report(ch, "setup: " + inner.error().Message());
  auto first = Spawn({}, [&] {
    inner->BecomeChild();
    (void)inner->Send(fmt::format("{}", ::getpid()));
    return inner->Expect("exit") ? 0 : 1;
  });
  if (!first) return Report(ch, "spawn: " + first.error().Message());
  inner->BecomeParent();
  auto its_pid = inner->Recv(std::chrono::seconds(10));
  Put(ch, "first-child-pid", its_pid ? *its_pid : its_pid.error().Message());
  // The caller reads the child's link through its own /proc, by the child's pid out here.
  auto child_ns = NsIdOf(first->pid(), NsType::kPid);
  Put(ch, "child-ns", child_ns ? NsIdString(*child_ns) : child_ns.error().Message());
  (void)inner->Send("exit");
  return first->Wait(std::chrono::seconds(10)).has_value() ? 0 : 1;
}

// Source: D "OK, really, why do we need --fork?" (a process calling unshare is moved to the new
// namespaces, except for the PID namespace; its children are, and the first one is PID 1);
// unshare(2) CLONE_NEWPID.
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// an unshare that moved the caller too changes its pid and fails it.
TEST(PidNamespace, UnshareCallerStays) {
  CKC_BEHAVIOUR("pid.unshare-caller-stays", "D",
                "after unshare(CLONE_NEWPID) the caller keeps its PID and its pid namespace; only "
                "its next child enters the new one, as PID 1");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(Sandbox().UserNsUnlessRoot(), UnshareThenFork));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(Value(r, "unshare"), "ok") << r.Describe();
  EXPECT_EQ(Value(r, "pid-after"), Value(r, "pid-before")) << "the caller's PID must not change";
  EXPECT_EQ(Value(r, "own-ns-changed"), "no") << "the caller must stay in its pid namespace";
  EXPECT_NE(Value(r, "child-ns"), Value(r, "own-ns")) << "the caller's child must be in a new pid "
                                                      << "namespace; " << r.Describe();
  EXPECT_EQ(Value(r, "first-child-pid"), "1") << "the caller's next child is the namespace's PID 1";
}

// Source: D "PID namespaces and /proc" (our new namespace still has access to the original /proc,
// therefore it still sees host processes); pid_namespaces(7) "/proc and PID namespaces".
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// a sandbox that mounted a fresh /proc hides the parent and fails it.
TEST(PidNamespace, OldProcShowsHost) {
  CKC_BEHAVIOUR("pid.old-proc-shows-host", "D",
                "without a fresh proc mount, a process in a new pid namespace still sees the "
                "parent's processes in /proc, and /proc/self gives its outer PID");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  pid_t test_pid = ::getpid();
  ASSERT_OK_AND_ASSIGN(Sandboxed box, PidBox().Run([test_pid](Channel& ch) {
    Put(ch, "getpid", fmt::format("{}", ::getpid()));
    Put(ch, "sees-parent", YesNo(fs::exists(fmt::format("/proc/{}", test_pid))));
    return Put(ch, "proc-self", ProcSelf());
  }));
  pid_t host_pid = box.child.pid();
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(box.child, box.channel));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "getpid"), "1");
  EXPECT_EQ(Value(r, "sees-parent"), "yes")
      << "expected the old /proc to list the parent's process " << test_pid;
  EXPECT_EQ(Value(r, "proc-self"), fmt::format("{}", host_pid))
      << "expected /proc/self to resolve to the host's pid of the process, not 1";
}

// Source: D "PID namespaces and /proc" (it cannot affect them: try to kill a process, you will get
// "No such process"); pid_namespaces(7).
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// a child left in the parent's pid namespace (no CLONE_NEWPID) kills the victim and fails it.
TEST(PidNamespace, CannotKillOutside) {
  CKC_BEHAVIOUR("pid.cannot-kill-outside", "D",
                "from inside a pid namespace, kill() aimed at the PID of a process outside it "
                "fails with ESRCH and that process is left unharmed");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(Sandboxed victim, Sandbox().Run([](Channel& ch) {
    return ch.Expect("go", std::chrono::seconds(60)) ? 0 : 1;
  }));
  pid_t target = victim.child.pid();
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(PidBox(), [target](Channel& ch) {
                         PutCall(ch, "kill-0", ::kill(target, 0));
                         PutCall(ch, "kill-SIGKILL", ::kill(target, SIGKILL));
                         return 0;
                       }));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "kill-0"), "ESRCH") << "kill(" << target << ", 0) from inside the namespace";
  EXPECT_EQ(Value(r, "kill-SIGKILL"), "ESRCH") << "kill(" << target << ", SIGKILL) from inside";
  ASSERT_OK_AND_ASSIGN(auto ended, victim.child.TryWait(std::chrono::milliseconds(0)));
  EXPECT_FALSE(ended.has_value()) << "the outside process died: " << ended->Describe();
  ASSERT_OK(victim.channel.Send("go"));
  (void)victim.child.Wait(std::chrono::seconds(10));
}

// Source: D "PID namespaces, take 2" (mounting /proc in the namespace; unshare --mount-proc);
// pid_namespaces(7) "/proc and PID namespaces".
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// with user.max_mnt_namespaces=0 sysctl:user.max_mnt_namespaces; the old /proc lists more: fail.
TEST(PidNamespace, MountProc) {
  CKC_BEHAVIOUR("pid.mount-proc", "D",
                "a proc file system newly mounted inside a pid namespace lists only the processes "
                "of that namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceType(NsType::kMnt),
              NamespaceQuota(CLONE_NEWPID | CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(PidBox().MountProc(), [](Channel& ch) {
                         std::vector<int> pids;
                         std::error_code ec;
                         for (const auto& e : fs::directory_iterator("/proc", ec)) {
                           std::string n = e.path().filename();
                           if (!n.empty() && std::all_of(n.begin(), n.end(), ::isdigit))
                             pids.push_back(std::stoi(n));
                         }
                         std::sort(pids.begin(), pids.end());
                         Put(ch, "pids", fmt::format("{}", fmt::join(pids, ",")));
                         return Put(ch, "proc-self", ProcSelf());
                       }));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "pids"), "1")
      << "expected the fresh /proc to list only the namespace's process";
  EXPECT_EQ(Value(r, "proc-self"), "1");
}

// Source: D "PID namespace" (namespaces can be nested; a process ends up having multiple PIDs, one
// per namespace in which it is nested); proc(5) NSpid.
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// an inner child made without CLONE_NEWPID has two levels, not three: fail.
TEST(PidNamespace, NestedMultiplePids) {
  CKC_BEHAVIOUR("pid.nested-multiple-pids", "D",
                "a process in nested pid namespaces has a separate PID at every level, which the "
                "NSpid line of /proc/PID/status lists from the outermost in");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(Sandboxed box, PidBox().Run([](Channel& ch) {
    Put(ch, "outer-nspid", NsPids());
    auto inner = Spawn({.flags = CLONE_NEWPID}, [&] { return Put(ch, "inner-nspid", NsPids()); });
    if (!inner) return Report(ch, "spawn: " + inner.error().Message());
    Put(ch, "inner-pid-in-outer", fmt::format("{}", inner->pid()));
    return inner->Wait(std::chrono::seconds(10)).has_value() ? 0 : 1;
  }));
  pid_t outer_host = box.child.pid();
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(box.child, box.channel));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "outer-nspid"), fmt::format("{} 1", outer_host));
  std::istringstream in(Value(r, "inner-nspid"));
  std::vector<std::string> levels;
  for (std::string p; in >> p;) levels.push_back(p);
  ASSERT_EQ(levels.size(), 3u) << "expected one pid per level (host, outer, inner), saw NSpid `"
                               << Value(r, "inner-nspid") << "`";
  EXPECT_NE(levels[0], fmt::format("{}", outer_host)) << "host-level pid";
  EXPECT_EQ(levels[1], Value(r, "inner-pid-in-outer")) << "pid in the outer namespace";
  EXPECT_EQ(levels[2], "1") << "pid in its own namespace";
}

// From outside the namespace (its parent namespace): join it as pid_for_children, start two
// victims in it, and report how they ended once its PID 1 exits.
int VictimsOf(Channel& ch, int pid_ns_fd) {
  if (auto in = EnterNs(pid_ns_fd, NsType::kPid); !in)
    return Report(ch, "setup: " + in.error().Message());
  std::vector<Child> victims;
  for (int i = 0; i < 2; ++i) {
    auto v = Spawn({}, [] {
      for (;;) ::pause();
      return 0;
    });
    if (!v) return Report(ch, "setup: " + v.error().Message());
    victims.push_back(std::move(*v));
  }
  Put(ch, "victims", "ready");
  for (size_t i = 0; i < victims.size(); ++i) {
    auto st = victims[i].Wait(std::chrono::seconds(20));
    Put(ch, fmt::format("victim{}", i), st ? st->Describe() : st.error().Message());
  }
  return 0;
}

// Source: D "PID namespace" (when PID 1 goes away, the whole namespace is killed);
// pid_namespaces(7) ("all of the processes in the namespace are terminated by a SIGKILL").
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// victims that outlive PID 1 are killed by their Wait's timeout, which reads "timed out (then
// killed by SIGKILL)", not the kernel's "killed by SIGKILL": fail.
TEST(PidNamespace, InitDeathKillsAll) {
  CKC_BEHAVIOUR("pid.init-death-kills-all", "D",
                "when PID 1 of a pid namespace exits, every other process still in that namespace "
                "is killed by SIGKILL");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(Sandboxed init, PidBox().Run([](Channel& ch) {
    return ch.Expect("die", std::chrono::seconds(60)) ? 0 : 1;
  }));
  ASSERT_OK_AND_ASSIGN(UniqueFd ns, OpenNs(init.child.pid(), NsType::kPid));
  ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
  int ns_fd = ns.get();
  ASSERT_OK_AND_ASSIGN(Child helper, Spawn({}, [&] {
                         ch.BecomeChild();
                         return VictimsOf(ch, ns_fd);
                       }));
  ch.BecomeParent();
  ASSERT_OK_AND_ASSIGN(std::string ready, ch.Recv(std::chrono::seconds(10)));
  CKC_ASSERT_SETUP(ready == "victims=ready") << "the helper's victims: " << ready;
  ASSERT_OK(init.channel.Send("die"));
  ASSERT_OK_AND_ASSIGN(ExitStatus init_st, init.child.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(init_st.Exited(0)) << "PID 1: " << init_st.Describe();
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(helper, ch));
  // Exactly the kernel's kill: a victim killed by its Wait's timeout reads "timed out (...)".
  EXPECT_EQ(Value(r, "victim0"), "killed by SIGKILL") << r.Describe();
  EXPECT_EQ(Value(r, "victim1"), "killed by SIGKILL") << r.Describe();
}

// Source: D "OK, really, why do we need --fork?" (if PID 1 exits, it is not possible to create
// additional processes in the namespace: attempting to do so will result in ENOMEM);
// pid_namespaces(7).
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// a fork that succeeded after PID 1's death reports "created": fail.
TEST(PidNamespace, ForkAfterInitDeathFailsWithEnomem) {
  CKC_BEHAVIOUR("pid.fork-after-init-death-enomem", "D",
                "once PID 1 of a pid namespace has exited, any attempt to start another process "
                "there fails with ENOMEM");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  // As unshare without --fork: the first child is PID 1 and exits; the next fork fails.
  ASSERT_OK_AND_ASSIGN(ChildResult unshared,
                       RunInSandbox(Sandbox().UserNsUnlessRoot(), [](Channel& ch) {
                         if (::unshare(CLONE_NEWPID) != 0)
                           return ReportErrno(ch, "setup: unshare(CLONE_NEWPID)");
                         auto first = Spawn({}, [] { return 0; });
                         if (!first || !first->Wait(std::chrono::seconds(10)))
                           return Report(ch, "setup: first child");
                         auto second = Spawn({}, [] { return 0; });
                         Put(ch, "second", second ? "created" : ErrnoName(second.error().err));
                         return 0;
                       }));
  EXPECT_EQ(Value(unshared, "second"), "ENOMEM")
      << "fork after PID 1 exited; " << unshared.Describe();
  // Through a kept namespace fd: setns into the dead init's namespace, then fork.
  ASSERT_OK_AND_ASSIGN(Sandboxed init, PidBox().Run([](Channel& ch) {
    return ch.Expect("die", std::chrono::seconds(60)) ? 0 : 1;
  }));
  ASSERT_OK_AND_ASSIGN(UniqueFd ns, OpenNs(init.child.pid(), NsType::kPid));
  ASSERT_OK(init.channel.Send("die"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, init.child.Wait(std::chrono::seconds(10)));
  CKC_ASSERT_SETUP(st.Exited(0)) << "PID 1 " << st.Describe();
  int ns_fd = ns.get();
  ASSERT_OK_AND_ASSIGN(ChildResult entered, RunInChild([ns_fd](Channel& ch) {
                         if (auto in = EnterNs(ns_fd, NsType::kPid); !in)
                           return Report(ch, "setns: " + in.error().Message());
                         auto child = Spawn({}, [] { return 0; });
                         return Put(ch, "fork", child ? "created" : ErrnoName(child.error().err));
                       }));
  EXPECT_EQ(Value(entered, "fork"), "ENOMEM")
      << "fork into the namespace after its PID 1 exited; " << entered.Describe();
}

constexpr int kUnhandled[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGKILL};

// PID 1 without handlers: a second process in the namespace signals it, then PID 1 says it
// lives and waits to be killed from outside.
int InitWithoutHandlers(Channel& ch) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : kUnhandled) {
    if (sig != SIGKILL) ::signal(sig, SIG_DFL);
  }
  auto sender = Spawn({}, [&] {
    for (int sig : kUnhandled) PutCall(ch, "kill-" + SignalName(sig), ::kill(1, sig));
    return 0;
  });
  if (!sender) return Report(ch, "setup: " + sender.error().Message());
  auto st = sender->Wait(std::chrono::seconds(10));
  Put(ch, "sender", st ? st->Describe() : st.error().Message());
  Put(ch, "alive", "yes");
  return ch.Expect("never", std::chrono::seconds(60)) ? 0 : 3;
}

// Source: pid_namespaces(7) ("only signals for which the init process has established a signal
// handler can be sent to the init process by other members of the PID namespace"; SIGKILL from an
// ancestor namespace is delivered); D "PID namespace" (PID 1 is special).
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// a PID 1 that ignored SIGKILL from outside would die only by Wait's timeout (not KilledBy): fail.
TEST(PidNamespace, InitIgnoresUnhandledSignals) {
  CKC_BEHAVIOUR("pid.init-ignores-unhandled-signals", "D",
                "PID 1 of a pid namespace survives signals it has no handler for when they come "
                "from inside the namespace, while SIGKILL from the parent namespace still ends it");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(Sandboxed init, PidBox().Run(InitWithoutHandlers));
  ChildResult r;
  while (Value(r, "alive") == "<none>") {
    auto msg = init.channel.Recv(std::chrono::seconds(15));
    if (!msg) break;
    r.reports.push_back(*msg);
  }
  CKC_ASSERT_SETUP(Value(r, "sender") == "exited with 0") << r.Describe();
  for (int sig : kUnhandled) {
    EXPECT_EQ(Value(r, "kill-" + SignalName(sig)), "ok") << "kill(1, " << SignalName(sig) << ")";
  }
  EXPECT_EQ(Value(r, "alive"), "yes")
      << "expected PID 1 to survive unhandled signals from inside; " << r.Describe();
  ASSERT_OK(init.child.Signal(SIGKILL));  // from the parent namespace: the behaviour's input
  ASSERT_OK_AND_ASSIGN(ExitStatus st, init.child.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(st.KilledBy(SIGKILL))  // false if it outlived the signal and Wait killed it
      << "expected SIGKILL from the parent namespace to kill PID 1, saw " << st.Describe();
}

// PID 1 starts A, A starts B and exits; B reports its new parent, PID 1 reaps B.
int OrphanMaker(Channel& ch) {
  auto a = Spawn({}, [&] {
    pid_t a_pid = ::getpid();
    auto b = Spawn({.die_with_parent = false}, [&] {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (::getppid() == a_pid && std::chrono::steady_clock::now() < deadline) ::usleep(1000);
      return Put(ch, "b-ppid-after", fmt::format("{}", ::getppid()));
    });
    if (!b) return Report(ch, "setup: " + b.error().Message());
    Put(ch, "b-pid", fmt::format("{}", b->Release()));
    return 0;
  });
  if (!a) return Report(ch, "setup: " + a.error().Message());
  auto st = a->Wait(std::chrono::seconds(10));
  Put(ch, "a", st ? st->Describe() : st.error().Message());
  int status = 0;
  pid_t reaped = ::waitpid(-1, &status, 0);
  return Put(ch, "init-reaped", fmt::format("{}", reaped));
}

// Source: pid_namespaces(7) ("if a child process ... is orphaned, it is reparented to the init
// process of its PID namespace"); D "PID namespace".
// Negative control: with user.max_pid_namespaces=0 it skips sysctl:user.max_pid_namespaces;
// an orphan adopted by a subreaper outside (its ppid not 1) fails it.
TEST(PidNamespace, OrphansReparentToInit) {
  CKC_BEHAVIOUR("pid.orphans-reparent-to-init", "D",
                "a process orphaned inside a pid namespace is adopted by that namespace's PID 1, "
                "which then reaps it");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(PidBox(), OrphanMaker));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  CKC_ASSERT_SETUP(Value(r, "a") == "exited with 0") << r.Describe();
  EXPECT_EQ(Value(r, "b-ppid-after"), "1") << "expected the orphan's parent to become PID 1";
  EXPECT_EQ(Value(r, "init-reaped"), Value(r, "b-pid")) << "expected PID 1 to reap the orphan";
}

}  // namespace
}  // namespace ckc::test
