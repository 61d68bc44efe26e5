// Seccomp filter rows (seed D "seccomp": "The seccomp-bpf extension allows to specify custom
// filters with BPF rules ... filter by syscall, and by parameter"; seccomp(2);
// Documentation/userspace-api/seccomp_filter.rst). Filters are built with libseccomp and loaded
// in a child; the parent asserts on what the child reports or how it ended.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>

#include "capabilities.h"
#include "ckc_test.h"
#include "sandbox.h"
#include "seccomp_filter.h"
#include "security_support.h"

namespace ckc::test {
namespace {

// si_code of a seccomp SIGSYS (asm-generic/siginfo.h SYS_SECCOMP; glibc does not export it).
constexpr int kSysSeccomp = 1;

long Uname() {
  struct utsname u {};
  return ::uname(&u);
}

// A filter that allows everything but answers `nr` with `action`, loaded in the calling child.
Status LoadOneRule(uint32_t action, int nr, const std::vector<scmp_arg_cmp>& args = {}) {
  CKC_TRY(f, SeccompFilter::Create(SCMP_ACT_ALLOW));
  CKC_CHECK(f.Add(action, nr, args));
  return f.Load();
}

TEST(SeccompFilter, Errno) {
  // Source: seccomp(2) SECCOMP_RET_ERRNO: "the lower 16 bits of the return value are passed to
  // user space as the errno value without executing the system call".
  // Negative control: a kernel built without CONFIG_SECCOMP_FILTER skips
  // config:CONFIG_SECCOMP_FILTER; a filter that failed to load makes the child's setup broken.
  CKC_BEHAVIOUR("seccomp.filter-errno", "D",
                "a seccomp rule whose action is an errno makes the matching system call fail with "
                "exactly that errno, while calls without a rule go through");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         Observe(ch, "before", Outcome(Uname()));
                         CKC_CHILD_CHECK(LoadOneRule(SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(uname)));
                         Observe(ch, "after", Outcome(Uname()));
                         Observe(ch, "other", Outcome(::syscall(SYS_getppid)));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["before"], "ok");
  EXPECT_EQ(seen["after"], "!ENOMSG") << "uname() under SCMP_ACT_ERRNO(ENOMSG)";
  EXPECT_EQ(seen["other"], "ok") << "calls without a rule take the default action (allow)";
}

TEST(SeccompFilter, Argument) {
  // Source: D "This allows to filter by syscall, and by parameter"; seccomp_rule_add(3)
  // argument comparisons (SCMP_A0).
  // Negative control: without CONFIG_SECCOMP_FILTER it skips config:CONFIG_SECCOMP_FILTER; a
  // kernel that ignored the argument comparison refuses AF_UNIX too and fails it.
  CKC_BEHAVIOUR("seccomp.filter-arg", "D",
                "a seccomp filter can match on system call arguments, so socket(AF_INET) is "
                "refused while socket(AF_UNIX) is let through");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         UniqueFd before(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
                         Observe(ch, "inet-before", Outcome(before.get()));
                         CKC_CHILD_CHECK(LoadOneRule(SCMP_ACT_ERRNO(EKEYREJECTED), SCMP_SYS(socket),
                                                     {SCMP_A0(SCMP_CMP_EQ, AF_INET)}));
                         UniqueFd inet(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
                         Observe(ch, "inet", Outcome(inet.get()));
                         UniqueFd unix_sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
                         Observe(ch, "unix", Outcome(unix_sock.get()));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["inet-before"], "ok");
  EXPECT_EQ(seen["inet"], "!EKEYREJECTED") << "socket(AF_INET) matches the rule on argument 0";
  EXPECT_EQ(seen["unix"], "ok") << "socket(AF_UNIX) does not match it and is allowed";
}

// What the SIGSYS handler saw (written in the handler, read after it returned).
volatile sig_atomic_t g_signo, g_code, g_syscall;
volatile unsigned int g_arch;
void SigsysHandler(int signo, siginfo_t* info, void*) {
  g_signo = signo;
  g_code = info->si_code;
  g_syscall = info->si_syscall;
  g_arch = info->si_arch;
}

TEST(SeccompFilter, TrapSigsys) {
  // Source: seccomp(2) SECCOMP_RET_TRAP: "the kernel sends a thread-directed SIGSYS signal ...
  // si_code SYS_SECCOMP, si_syscall the system call number, si_arch its architecture"; with no
  // handler SIGSYS ends the process.
  // Negative control: without CONFIG_SECCOMP_FILTER it skips config:CONFIG_SECCOMP_FILTER; a
  // child that survives the trap (reports it) or stalls until Wait's timeout (SIGKILL, not SIGSYS)
  // fails it.
  CKC_BEHAVIOUR("seccomp.trap-sigsys", "D",
                "a trap action raises SIGSYS with siginfo naming the intercepted system call and "
                "its architecture; with no handler the process dies of it");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(ChildResult handled, RunInChild([&](Channel& ch) {
                         struct sigaction sa {};
                         sa.sa_sigaction = SigsysHandler;
                         sa.sa_flags = SA_SIGINFO;
                         if (::sigaction(SIGSYS, &sa, nullptr) != 0)
                           return ReportErrno(ch, "setup: sigaction", 2);  // Collect: broken
                         CKC_CHILD_CHECK(LoadOneRule(SCMP_ACT_TRAP, SCMP_SYS(uname)));
                         Uname();
                         Observe(ch, "signal", SignalName(g_signo));
                         Observe(ch, "code", std::to_string(g_code));
                         Observe(ch, "syscall", std::to_string(g_syscall));
                         Observe(ch, "arch", fmt::format("{:#x}", g_arch));
                         return 0;
                       }));
  ASSERT_TRUE(handled.status.Exited(0)) << handled.Describe();
  Observations seen = Parse(handled);
  EXPECT_EQ(seen["signal"], "SIGSYS") << "the trap must deliver SIGSYS to the handler";
  EXPECT_EQ(seen["code"], std::to_string(kSysSeccomp)) << "si_code";
  EXPECT_EQ(seen["syscall"], std::to_string(SYS_uname)) << "si_syscall must name uname";
  EXPECT_EQ(seen["arch"], fmt::format("{:#x}", seccomp_arch_native())) << "si_arch";

  ASSERT_OK_AND_ASSIGN(ChildResult unhandled, RunInChild([&](Channel& ch) {
                         ::prctl(PR_SET_DUMPABLE, 0, 0, 0,
                                 0);  // no core file from the SIGSYS death
                         CKC_CHILD_CHECK(LoadOneRule(SCMP_ACT_TRAP, SCMP_SYS(uname)));
                         Uname();
                         return Report(ch, "survived the trap", 0);
                       }));
  EXPECT_TRUE(unhandled.status.KilledBy(SIGSYS))
      << "without a handler the trap must kill with SIGSYS, saw " << unhandled.Describe();
  EXPECT_THAT(unhandled.reports, ::testing::Not(::testing::Contains("survived the trap")))
      << "the call after the trapped uname() must never run";
}

std::atomic<bool> g_thread_returned{false};
void* CallUname(void*) {
  Uname();
  g_thread_returned = true;
  return nullptr;
}

// Loads `action` for uname in the whole child, lets a second thread call uname and joins it.
int KillFromThread(Channel& ch, uint32_t action) {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // no core file from the SIGSYS death
  CKC_CHILD_CHECK(LoadOneRule(action, SCMP_SYS(uname)));
  pthread_t t;
  if (pthread_create(&t, nullptr, CallUname, nullptr) != 0)
    return Report(ch, "setup: pthread_create", 2);
  pthread_join(t, nullptr);
  Observe(ch, "thread-returned", g_thread_returned ? "yes" : "no");
  Observe(ch, "main", "alive after join");
  return 0;
}

TEST(SeccompFilter, KillProcess) {
  // Source: seccomp(2) SECCOMP_RET_KILL_PROCESS ("the process terminates as though killed by a
  // SIGSYS signal") and SECCOMP_RET_KILL_THREAD ("immediate termination of the thread ... other
  // threads in the same thread group will continue"). A second thread makes the call.
  // Negative control: without CONFIG_SECCOMP_FILTER it skips config:CONFIG_SECCOMP_FILTER; a
  // kill-process that ended only the thread (the main thread reports) or a stall until Wait's
  // timeout (not KilledBy) fails it.
  CKC_BEHAVIOUR("seccomp.kill-process", "D",
                "a kill-process action ends every thread of the process, while kill-thread ends "
                "only the thread that made the call");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(ChildResult thread, RunInChild([&](Channel& ch) {
                         return KillFromThread(ch, SCMP_ACT_KILL_THREAD);
                       }));
  Observations seen = Parse(thread);
  EXPECT_TRUE(thread.status.Exited(0))
      << "kill-thread must leave the main thread running, saw " << thread.Describe();
  EXPECT_EQ(seen["thread-returned"], "no") << "the calling thread must not return from uname";
  EXPECT_EQ(seen["main"], "alive after join");

  ASSERT_OK_AND_ASSIGN(ChildResult process, RunInChild([&](Channel& ch) {
                         return KillFromThread(ch, SCMP_ACT_KILL_PROCESS);
                       }));
  EXPECT_TRUE(process.status.KilledBy(SIGSYS))
      << "kill-process must end the whole process with SIGSYS, saw " << process.Describe();
  EXPECT_TRUE(process.reports.empty())
      << "the main thread must not outlive the call: " << process.Describe();
}

TEST(SeccompFilter, UserNotif) {
  // Source: seccomp(2) SECCOMP_RET_USER_NOTIF and seccomp_unotify(2) (Linux 5.0): the supervisor
  // receives the call and its response is the call's result (val, or -error).
  // Negative control: libseccomp below API level 5 (or a kernel before 5.0) skips
  // kernel:seccomp-user-notif; a supervisor whose answer is ignored fails the value checks.
  CKC_BEHAVIOUR("seccomp.user-notif", "K",
                "a supervisor listening on the notification fd is told of the filtered call, and "
                "the value or error it answers becomes the call's result",
                "5.0");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  if (!UserNotificationSupported()) {
    GTEST_SKIP() << "kernel:seccomp-user-notif (libseccomp API level " << SeccompApiLevel()
                 << " < 5)";
  }
  ASSERT_OK_AND_ASSIGN(Sandboxed box, Sandbox().Run([](Channel& ch) {
    CKC_CHILD_TRY(f, SeccompFilter::Create(SCMP_ACT_ALLOW));
    CKC_CHILD_CHECK(f.Add(SCMP_ACT_NOTIFY, SCMP_SYS(getppid)));
    CKC_CHILD_CHECK(f.Load());
    CKC_CHILD_TRY(fd, f.NotifyFd());
    CKC_CHILD_CHECK(ch.SendFd(fd.get(), "notify"));
    fd.Reset();
    Observe(ch, "first", std::to_string(::syscall(SYS_getppid)));
    Observe(ch, "second", Outcome(::syscall(SYS_getppid)));
    return 0;
  }));
  ASSERT_OK_AND_ASSIGN(UniqueFd fd, box.channel.RecvFd(10s));
  std::vector<std::string> calls;
  auto answered = SuperviseNotifications(
      fd.get(),
      [&](const seccomp_notif& n) {
        calls.push_back(fmt::format("nr {} pid {}", n.data.nr, n.pid));
        return calls.size() == 1 ? NotifyReply{.val = 4242, .error = 0}
                                 : NotifyReply{.val = 0, .error = EKEYREVOKED};
      },
      2, 10s);
  ChildResult r;
  while (auto msg = box.channel.Recv(10s)) r.reports.push_back(*msg);
  ASSERT_OK_AND_ASSIGN(r.status, box.child.Wait(10s));
  ASSERT_TRUE(answered.has_value())
      << "supervisor: " << answered.error().Message() << "; " << r.Describe();
  Observations seen = Parse(r);
  std::string expected_call = fmt::format("nr {} pid {}", SYS_getppid, box.child.pid());
  EXPECT_THAT(calls, ::testing::ElementsAre(expected_call, expected_call))
      << "what the supervisor received";
  EXPECT_EQ(seen["first"], "4242") << "getppid() must return the supervisor's val";
  EXPECT_EQ(seen["second"], "!EKEYREVOKED") << "getppid() must fail with the supervisor's error";
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
}

TEST(SeccompFilter, Inherited) {
  // Source: seccomp(2): filters are inherited by fork children and preserved across execve;
  // once installed they cannot be removed, only added to (the strictest answer wins).
  // Negative control: without CONFIG_SECCOMP_FILTER it skips config:CONFIG_SECCOMP_FILTER; a
  // later allow-all filter that lifted the first makes uname() succeed: it fails.
  CKC_BEHAVIOUR("seccomp.inherited", "K",
                "seccomp filters pass to children on fork and stay in force across execve, and no "
                "filter added later can lift one already installed");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(UniqueFd helper, OpenHelper());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInChild([&](Channel& ch) {
        CKC_CHILD_CHECK(LoadOneRule(SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(uname)));
        Observe(ch, "mode", std::to_string(SeccompMode()));
        auto forked = Spawn({}, [] { return Uname() == 0 ? 0 : errno; });
        Observe(ch, "fork",
                forked ? forked->Wait(10s).value_or(ExitStatus{}).Describe() : "!spawn");
        auto execed = Spawn({}, [&] { return ExecHelper(helper.get(), {"uname-errno"}); });
        Observe(ch, "exec",
                execed ? execed->Wait(10s).value_or(ExitStatus{}).Describe() : "!spawn");
        CKC_CHILD_TRY(allow_all, SeccompFilter::Create(SCMP_ACT_ALLOW));  // no rules: allows uname
        CKC_CHILD_CHECK(allow_all.Load());
        Observe(ch, "after-allow-filter", Outcome(Uname()));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["mode"], "2") << "PR_GET_SECCOMP: SECCOMP_MODE_FILTER";
  EXPECT_EQ(seen["fork"], fmt::format("exited with {}", ENOMSG))
      << "a fork child's uname() (its errno)";
  EXPECT_EQ(seen["exec"], fmt::format("exited with {}", ENOMSG))
      << "uname() after execve (the helper's errno)";
  EXPECT_EQ(seen["after-allow-filter"], "!ENOMSG")
      << "a later allowing filter must not lift the first";
}

TEST(SeccompFilter, NeedsNoNewPrivs) {
  // Source: seccomp(2) EACCES: "The caller did not have the CAP_SYS_ADMIN capability in its user
  // namespace, or had not set no_new_privs before using SECCOMP_SET_MODE_FILTER". Runs
  // unprivileged too; as root the child drops CAP_SYS_ADMIN first.
  // Negative control: without CONFIG_SECCOMP_FILTER it skips config:CONFIG_SECCOMP_FILTER; a
  // child that kept CAP_SYS_ADMIN loads the filter without no_new_privs (broken: the drop failed).
  CKC_BEHAVIOUR("seccomp.needs-nnp", "K",
                "installing a seccomp filter without CAP_SYS_ADMIN fails with EACCES unless "
                "no_new_privs has been set first");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInChild([&](Channel& ch) {
        if (HasCapability(CAP_SYS_ADMIN, CapSet::kEffective).value_or(true)) {
          CKC_CHILD_CHECK(DropCapabilities({CAP_SYS_ADMIN}));
        }
        Observe(ch, "sys-admin",
                HasCapability(CAP_SYS_ADMIN, CapSet::kEffective).value_or(true) ? "yes" : "no");
        Observe(ch, "nnp-before", NoNewPrivs() ? "1" : "0");
        CKC_CHILD_TRY(f, SeccompFilter::Create(SCMP_ACT_ALLOW));
        CKC_CHILD_CHECK(f.Add(SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(uname)));
        CKC_CHILD_CHECK(f.SetNoNewPrivs(false));
        auto refused = f.Load();
        Observe(ch, "without-nnp", refused ? "ok" : "!" + ErrnoName(refused.error().err));
        CKC_CHILD_CHECK(SetNoNewPrivs());
        auto loaded = f.Load();
        Observe(ch, "with-nnp", loaded ? "ok" : "!" + ErrnoName(loaded.error().err));
        Observe(ch, "uname", Outcome(Uname()));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  CKC_ASSERT_SETUP(seen["sys-admin"] == "no") << "CAP_SYS_ADMIN still effective";
  CKC_ASSERT_SETUP(seen["nnp-before"] == "0") << "no_new_privs already set";
  EXPECT_EQ(seen["without-nnp"], "!EACCES")
      << "filter without CAP_SYS_ADMIN and without no_new_privs";
  EXPECT_EQ(seen["with-nnp"], "ok") << "control: the same filter after PR_SET_NO_NEW_PRIVS";
  EXPECT_EQ(seen["uname"], "!ENOMSG") << "the filter is in force";
}

}  // namespace
}  // namespace ckc::test
