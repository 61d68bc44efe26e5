// Process file descriptors and clone3: a pidfd's life from pidfd_open to ESRCH, pidfd_getfd and
// its ptrace check, CLONE_CLEAR_SIGHAND, set_tid across pid namespace levels, and the sender's
// pid a signal from an ancestor namespace carries.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <sstream>

#include "ns_requirements.h"
#include "ns_support.h"
#include "pidfd.h"
#include "userns.h"

namespace ckc::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Sandbox PidBox() { return Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWPID); }

// Source: pidfd_open(2) ("the file descriptor becomes readable when the process terminates");
// pidfd_send_signal(2) (ESRCH: "the target process does not exist"); waitid(2) P_PIDFD.
// Negative control: a kernel without pidfd_open (ENOSYS) or waitid(P_PIDFD) (EINVAL) skips with
// kernel:pidfd_open / kernel:waitid-P_PIDFD; a pidfd that never turns readable fails the row.
TEST(Pidfd, Lifecycle) {
  CKC_BEHAVIOUR("pidfd.lifecycle", "K",
                "a descriptor from pidfd_open() stays unreadable while its process runs, carries "
                "pidfd_send_signal() to it, polls readable once it died, lets waitid(P_PIDFD) "
                "reap it, and then refuses further signals with ESRCH",
                "5.3");
  CKC_REQUIRE(Interface("kernel:pidfd_open", ProbePidfdOpen),
              Interface("kernel:waitid-P_PIDFD", ProbeWaitPidfd));
  ASSERT_OK_AND_ASSIGN(Child child, Spawn({}, [] {
                         for (;;) ::pause();
                         return 0;
                       }));
  auto pidfd = PidfdOpen(child.pid());
  ASSERT_THAT(pidfd, IsOk()) << "pidfd_open(" << child.pid() << ")";
  int fd = pidfd->get();
  ASSERT_OK_AND_ASSIGN(bool readable_alive, PidfdPoll(fd, milliseconds(0)));
  EXPECT_FALSE(readable_alive) << "the pidfd of a running process polled readable";
  EXPECT_THAT(PidfdSendSignal(fd, SIGTERM), IsOk());
  ASSERT_OK_AND_ASSIGN(bool readable_dead, PidfdPoll(fd, seconds(10)));
  EXPECT_TRUE(readable_dead) << "the pidfd did not poll readable within 10 s of SIGTERM";
  auto info = WaitPidfd(fd);
  // Reaped through our pidfd: the Child must not signal (a possibly recycled) pid afterwards.
  if (info) child.Release();
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->si_pid, child.pid()) << "waitid(P_PIDFD) reaped another process";
  EXPECT_EQ(info->si_code, CLD_KILLED) << "si_status " << info->si_status;
  EXPECT_EQ(info->si_status, SIGTERM) << "killed by " << SignalName(info->si_status);
  EXPECT_THAT(PidfdSendSignal(fd, SIGTERM), FailsWith(ESRCH))
      << "pidfd_send_signal() to a reaped process";
}

// A process holding a pipe with a message in it; it reports the read end's number, turns
// non-dumpable when told, and exits on "exit".
int PipeHolder(Channel& ch) {
  int p[2];
  if (::pipe(p) != 0) return ReportErrno(ch, "setup: pipe");
  if (::write(p[1], "ckc-getfd", 9) != 9) return ReportErrno(ch, "setup: write");
  Put(ch, "read-end", fmt::format("{}", p[0]));
  if (!ch.Expect("nondumpable", seconds(30))) return 1;
  PutCall(ch, "prctl", ::prctl(PR_SET_DUMPABLE, 0));
  return ch.Expect("exit", seconds(30)) ? 0 : 1;
}

// Yama's ptrace_scope can forbid the attach pidfd_getfd needs to everyone (3) or to all but
// CAP_SYS_PTRACE (2).
Requirement PtraceAllowed() {
  return {[]() -> std::optional<std::string> {
    auto scope = ReadSysctl("kernel.yama.ptrace_scope");
    if (!scope) return std::nullopt;
    if (*scope == "3") return "sysctl:kernel.yama.ptrace_scope (is 3: no process may attach)";
    if (*scope == "2" && ::geteuid() != 0) {
      return "sysctl:kernel.yama.ptrace_scope (is 2: attaching needs CAP_SYS_PTRACE)";
    }
    return std::nullopt;
  }};
}

// Source: pidfd_getfd(2) ("permission to duplicate another process's file descriptor is
// governed by a ptrace access mode PTRACE_MODE_ATTACH_REALCREDS check"; EPERM).
// Negative control: a kernel without pidfd_getfd (ENOSYS) skips kernel:pidfd_getfd; Yama
// ptrace_scope 3 skips sysctl:kernel.yama.ptrace_scope; a duplicate handed to a caller without
// ptrace access fails the row.
TEST(Pidfd, Getfd) {
  CKC_BEHAVIOUR("pidfd.getfd", "K",
                "pidfd_getfd() gives a caller that may ptrace the target a copy of one of the "
                "target's open descriptors, and refuses with EPERM a caller that may not",
                "5.6");
  CKC_REQUIRE(Interface("kernel:pidfd_getfd", ProbePidfdGetfd), PtraceAllowed());
  ASSERT_OK_AND_ASSIGN(Sandboxed target, Sandbox().Run(PipeHolder));
  ASSERT_OK_AND_ASSIGN(std::string read_end, target.channel.Recv(seconds(10)));
  CKC_ASSERT_SETUP(read_end.starts_with("read-end=")) << "the target's pipe; it sent " << read_end;
  int target_fd = std::stoi(read_end.substr(9));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, PidfdOpen(target.child.pid()));
  auto dup = PidfdGetfd(pidfd.get(), target_fd);
  ASSERT_THAT(dup, IsOk()) << "the parent of the target may ptrace it";
  char buf[16] = {};
  EXPECT_EQ(::read(dup->get(), buf, sizeof buf), 9) << "read from the duplicate: " << errno;
  EXPECT_STREQ(buf, "ckc-getfd") << "the duplicate is not the target's pipe";

  // Without ptrace access: the target turns non-dumpable (which keeps out anyone lacking
  // CAP_SYS_PTRACE over it) and the caller drops to nobody when the test runs as root.
  ASSERT_OK(target.channel.Send("nondumpable"));
  ASSERT_OK_AND_ASSIGN(std::string prctl, target.channel.Recv(seconds(10)));
  CKC_ASSERT_SETUP(prctl == "prctl=ok") << "the target's prctl(PR_SET_DUMPABLE, 0); it sent "
                                        << prctl;
  int fd = pidfd.get();
  ASSERT_OK_AND_ASSIGN(ChildResult denied, RunInChild([fd, target_fd](Channel& ch) {
                         if (::geteuid() == 0) CKC_CHILD_CHECK(BecomeUser(kNobody, kNobody));
                         auto dup = PidfdGetfd(fd, target_fd);
                         return Put(ch, "getfd", dup ? "ok" : ErrnoName(dup.error().err));
                       }));
  EXPECT_TRUE(denied.status.Exited(0)) << denied.Describe();
  EXPECT_EQ(Value(denied, "getfd"), "EPERM")
      << "pidfd_getfd() by a caller without ptrace access; " << denied.Describe();
  ASSERT_OK(target.channel.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, target.child.Wait(seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << "target: " << st.Describe();
}

void Noop(int) {}

// Signals given a handler (each must come back SIG_DFL) and one ignored (which stays ignored).
const std::array kHandled = {SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGALRM};
constexpr int kIgnored = SIGPIPE;

std::string Disposition(int sig) {
  struct sigaction sa {};
  if (::sigaction(sig, nullptr, &sa) != 0) return ErrnoName(errno);
  if (sa.sa_handler == SIG_DFL) return "SIG_DFL";
  if (sa.sa_handler == SIG_IGN) return "SIG_IGN";
  return "handler";
}

// In a child (the test's own handlers stay as they are): install the handlers, then report the
// dispositions a clone3 child sees with and without CLONE_CLEAR_SIGHAND.
int ClearSighandChildren(Channel& ch) {
  struct sigaction sa {};
  sa.sa_handler = Noop;
  for (int sig : kHandled) ::sigaction(sig, &sa, nullptr);
  ::signal(kIgnored, SIG_IGN);
  for (auto [tag, flags] :
       {std::pair{"plain", uint64_t{0}}, std::pair{"cleared", uint64_t{CLONE_CLEAR_SIGHAND}}}) {
    auto c = Clone3Spawn({.flags = flags}, [&ch, tag] {
      for (int sig : kHandled)
        Put(ch, fmt::format("{}-{}", tag, SignalName(sig)), Disposition(sig));
      Put(ch, fmt::format("{}-{}", tag, SignalName(kIgnored)), Disposition(kIgnored));
      return 0;
    });
    if (!c) return Put(ch, fmt::format("{}-clone3", tag), c.error().Message(), 1);
    auto info = c->Wait(seconds(10));
    if (!info) return Report(ch, "setup: " + info.error().Message());
  }
  return 0;
}

// Source: clone(2) CLONE_CLEAR_SIGHAND ("all signals that are handled in the parent are reset to
// their default dispositions (SIG_DFL) in the child"); kernel flush_signal_handlers() leaves
// ignored signals ignored, as execve(2) does.
// Negative control: a kernel that does not know the flag refuses it with EINVAL and skips
// kernel:clone3-CLONE_CLEAR_SIGHAND; a handler surviving into the child fails the row.
TEST(Clone3, ClearSighand) {
  CKC_BEHAVIOUR("clone3.clear-sighand", "K",
                "a child made by clone3 with CLONE_CLEAR_SIGHAND starts with the default action "
                "for every signal its parent had a handler for, while a child made without the "
                "flag inherits those handlers",
                "5.5");
  CKC_REQUIRE(Interface("kernel:clone3-CLONE_CLEAR_SIGHAND", ProbeClone3ClearSighand));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild(ClearSighandChildren));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  for (int sig : kHandled) {
    EXPECT_EQ(Value(r, "plain-" + SignalName(sig)), "handler")
        << SignalName(sig) << " without the flag (control); " << r.Describe();
    EXPECT_EQ(Value(r, "cleared-" + SignalName(sig)), "SIG_DFL")
        << SignalName(sig) << " with CLONE_CLEAR_SIGHAND";
  }
  EXPECT_EQ(Value(r, "cleared-" + SignalName(kIgnored)), "SIG_IGN")
      << "an ignored signal stays ignored (only handlers are reset)";
}

// The NSpid line of /proc/self/status, outermost first.
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

// clone3 with `set_tid` from the caller; reports "<key>=<pid it returned>" and the child's NSpid
// ("<key>-nspid"), or "<key>=<ERRNO>".
void SetTidChild(Channel& ch, const std::string& key, const Clone3Args& args) {
  auto c = Clone3Spawn(args, [&ch, &key] {
    Put(ch, key + "-nspid", NsPids());
    return 0;
  });
  if (!c) {
    Put(ch, key, ErrnoName(c.error().err));
    return;
  }
  Put(ch, key, fmt::format("{}", c->pid()));
  (void)c->Wait(seconds(10));
}

// PID 1 of a pid namespace (with privilege over its owner) picks PIDs for its children.
int SetTids(Channel& ch) {
  SetTidChild(ch, "same-level", {.set_tid = {4242}});
  SetTidChild(ch, "two-levels", {.flags = CLONE_NEWPID, .set_tid = {1, 4343}});
  SetTidChild(ch, "taken", {.set_tid = {1}});
  // Without privilege over the namespace's owner: a process that moved to a user namespace of
  // its own holds capabilities only there.
  auto unpriv = Spawn({}, [&ch] {
    CKC_CHILD_CHECK(Unshare(CLONE_NEWUSER));
    SetTidChild(ch, "unprivileged", {.set_tid = {4444}});
    return 0;
  });
  if (!unpriv) return Report(ch, "setup: " + unpriv.error().Message());
  auto st = unpriv->Wait(seconds(10));
  return st && st->Exited(0) ? 0 : 1;
}

// Source: clone(2) set_tid (the first element is the PID in the most nested pid namespace, the
// next ones those in its ancestors; EEXIST for a PID in use; EPERM without CAP_SYS_ADMIN or
// CAP_CHECKPOINT_RESTORE in the user namespace owning that level);
// tools/testing/selftests/clone3/clone3_set_tid.c.
// Negative control: a kernel whose clone_args lack set_tid answers E2BIG and skips
// kernel:clone3-set_tid; a PID other than the one asked for fails the row.
TEST(PidNamespace, SetTid) {
  CKC_BEHAVIOUR("pid.set-tid", "K",
                "clone3 with set_tid gives the child the PID asked for at each pid namespace "
                "level, provided the caller holds privilege over the owner of every level it "
                "names (EPERM otherwise, EEXIST for a PID in use)",
                "5.5");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid),
              NamespaceQuota(CLONE_NEWPID | CLONE_NEWUSER),
              Interface("kernel:clone3-set_tid", ProbeClone3SetTid));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(PidBox(), SetTids));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "same-level"), "4242") << r.Describe();
  EXPECT_THAT(Value(r, "same-level-nspid"), testing::EndsWith(" 4242"));
  EXPECT_EQ(Value(r, "two-levels"), "4343") << "the PID in the caller's namespace";
  EXPECT_THAT(Value(r, "two-levels-nspid"), testing::EndsWith(" 4343 1"))
      << "expected PID 4343 in the caller's namespace and 1 in the new one";
  EXPECT_EQ(Value(r, "taken"), "EEXIST") << "set_tid {1} where PID 1 is running";
  EXPECT_EQ(Value(r, "unprivileged"), "EPERM")
      << "set_tid by a caller without privilege over the level's owning user namespace";
}

// PID 1 of a pid namespace: blocks SIGUSR1/SIGUSR2, waits for SIGUSR1 from outside, then has a
// process of its own namespace send SIGUSR2, and reports both senders' si_pid.
int SignalReceiver(Channel& ch) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  Put(ch, "blocked", "yes");
  auto wait_for = [&](int sig, const std::string& tag) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    siginfo_t info{};
    timespec timeout{10, 0};
    if (::sigtimedwait(&one, &info, &timeout) != sig) {
      Put(ch, tag, ErrnoName(errno));
      return;
    }
    Put(ch, tag + "-si_pid", fmt::format("{}", info.si_pid));
    Put(ch, tag + "-si_code", fmt::format("{}", info.si_code));
  };
  wait_for(SIGUSR1, "outside");
  auto sender = Spawn({}, [] { return ::kill(1, SIGUSR2) == 0 ? 0 : 1; });
  if (!sender) return Report(ch, "setup: " + sender.error().Message());
  Put(ch, "inside-sender", fmt::format("{}", sender->pid()));
  wait_for(SIGUSR2, "inside");
  return sender->Wait(seconds(10)) ? 0 : 1;
}

// Source: pid_namespaces(7) (a process sees no PID for processes of ancestor namespaces);
// kernel/signal.c (si_pid is the sender's pid in the receiver's namespace); LTP
// containers/pidns/pidns12 (si_pid is 0 when the sender is outside).
// Negative control: a kernel leaking the sender's outer PID fails the row; the sibling sender
// inside the namespace is the control that si_pid is filled in at all.
TEST(PidNamespace, SignalFromOutside) {
  CKC_BEHAVIOUR("pid.signal-from-outside", "K",
                "a process in a pid namespace that gets a signal from a process of an ancestor "
                "namespace sees si_pid 0, while a sender in its own namespace shows its PID");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kPid), NamespaceQuota(CLONE_NEWPID));
  ASSERT_OK_AND_ASSIGN(Sandboxed box, PidBox().Run(SignalReceiver));
  ASSERT_OK_AND_ASSIGN(std::string blocked, box.channel.Recv(seconds(10)));
  CKC_ASSERT_SETUP(blocked == "blocked=yes") << "the receiver blocked SIGUSR1; it sent " << blocked;
  ASSERT_OK(box.child.Signal(SIGUSR1));
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(box.child, box.channel));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "outside-si_pid"), "0") << "SIGUSR1 from the test's (ancestor) namespace";
  EXPECT_EQ(Value(r, "outside-si_code"), fmt::format("{}", SI_USER));
  EXPECT_EQ(Value(r, "inside-si_pid"), Value(r, "inside-sender"))
      << "control: a sender inside the namespace; " << r.Describe();
}

}  // namespace
}  // namespace ckc::test
