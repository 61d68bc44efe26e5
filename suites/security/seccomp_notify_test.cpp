// Modern seccomp rows: how a supervisor answers a user notification (continue, install an fd),
// the log action and the kernel's action list, and filters synchronised onto every thread
// (seccomp(2), seccomp_unotify(2), Documentation/userspace-api/seccomp_filter.rst). Filters are
// loaded in children; the test process is the supervisor and asserts on what the target saw.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <functional>
#include <semaphore>
#include <string>
#include <thread>

#include "ckc_test.h"
#include "fd.h"
#include "mounts.h"
#include "sandbox.h"
#include "seccomp_filter.h"
#include "seccomp_notify.h"

namespace ckc::test {
namespace {

using ::testing::HasSubstr;

constexpr auto kNotifyTimeout = std::chrono::seconds(10);

// User notification itself (SECCOMP_RET_USER_NOTIF, Linux 5.0), as libseccomp detects it.
Requirement UserNotification() {
  return {[]() -> std::optional<std::string> {
    if (UserNotificationSupported()) return std::nullopt;
    return fmt::format("kernel:seccomp-user-notif (libseccomp API level {} < 5)",
                       SeccompApiLevel());
  }};
}

// The outcome of ProbeNotifyFeature as a requirement: kernel:<flag> when the kernel refused it.
Requirement Has(NotifyFeature feature, bool present) {
  return {[=]() -> std::optional<std::string> {
    if (present) return std::nullopt;
    return fmt::format("kernel:{} (refused with EINVAL)", NotifyFeatureName(feature));
  }};
}

// A target that notifies on `nr`, started with its listener handed to the test (the supervisor).
struct Target {
  Sandboxed box;
  UniqueFd listener;
};

// Starts a child that loads a filter notifying on `nr`, sends its listener up and then runs
// `calls` (which observe through the channel).
Result<Target> StartTarget(int nr, const std::function<void(Channel&)>& calls) {
  CKC_TRY(box, Sandbox().Run([nr, calls](Channel& ch) {
    CKC_CHILD_TRY(f, SeccompFilter::Create(SCMP_ACT_ALLOW));
    CKC_CHILD_CHECK(f.Add(SCMP_ACT_NOTIFY, nr));
    CKC_CHILD_CHECK(f.Load());
    CKC_CHILD_TRY(fd, f.NotifyFd());
    CKC_CHILD_CHECK(ch.SendFd(fd.get(), "notify"));
    fd.Reset();  // the supervisor holds the only listener
    calls(ch);
    return 0;
  }));
  CKC_TRY(listener, box.channel.RecvFd(kNotifyTimeout));
  return Target{std::move(box), std::move(listener)};
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(SeccompNotify, ContinueRunsTheCall) {
  // Source: seccomp_unotify(2) SECCOMP_USER_NOTIF_FLAG_CONTINUE ("the kernel should execute the
  // target's system call", Linux 5.5); seccomp_filter.rst "Userspace Notification".
  // Negative control: a kernel before 5.5 refuses the flag with EINVAL (skip naming it); the
  // second mkdirat, answered with an error instead, must leave no directory behind.
  CKC_BEHAVIOUR("seccomp.notif-continue", "K",
                "a supervisor that answers an intercepted call with the continue flag makes the "
                "kernel carry out the call itself, with its real effect and result",
                "5.5");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"), UserNotification());
  ASSERT_OK_AND_ASSIGN(bool has_continue, ProbeNotifyFeature(NotifyFeature::kContinue));
  CKC_REQUIRE(Has(NotifyFeature::kContinue, has_continue));
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create(TestDir() + "/mkdirat"));
  std::string ran = dir / "continued";
  std::string refused = dir / "refused";
  ASSERT_OK_AND_ASSIGN(
      Target t, StartTarget(SCMP_SYS(mkdirat), [&](Channel& ch) {
        Observe(ch, "continued", Outcome(::syscall(SYS_mkdirat, AT_FDCWD, ran.c_str(), 0755)));
        Observe(ch, "refused", Outcome(::syscall(SYS_mkdirat, AT_FDCWD, refused.c_str(), 0755)));
      }));
  ASSERT_OK_AND_ASSIGN(Notification first, ReceiveNotification(t.listener.get(), kNotifyTimeout));
  EXPECT_EQ(first.data.nr, SYS_mkdirat) << "the supervisor is told of the intercepted call";
  EXPECT_EQ(first.pid, t.box.child.pid());
  EXPECT_THAT(RespondContinue(t.listener.get(), first.id), IsOk());
  ASSERT_OK_AND_ASSIGN(Notification second, ReceiveNotification(t.listener.get(), kNotifyTimeout));
  ASSERT_OK(Respond(t.listener.get(), second.id, {.val = 0, .error = EKEYREVOKED}));
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(t.box.child, t.box.channel, kNotifyTimeout));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["continued"], "ok") << "mkdirat answered with CONTINUE returns its real result";
  EXPECT_TRUE(IsDirectory(ran)) << "and the kernel really made " << ran;
  EXPECT_EQ(seen["refused"], "!EKEYREVOKED") << "control: the call answered with an error";
  EXPECT_FALSE(Exists(refused)) << "control: a call the supervisor refused has no effect";
}

// What the target saw of the fd its getppid() returned: the number, the file's first bytes,
// its inode and whether it is close-on-exec; "!ERRNO" pieces where a step failed.
std::string DescribeInstalledFd(long fd) {
  if (fd < 0) return "call failed: " + Outcome(fd);
  char buf[64] = {};
  ssize_t n = ::pread(static_cast<int>(fd), buf, sizeof(buf) - 1, 0);
  std::string data = n >= 0 ? std::string(buf, static_cast<size_t>(n)) : "!" + ErrnoName(errno);
  struct stat st {};
  int stat_rc = ::fstat(static_cast<int>(fd), &st);
  int flags = ::fcntl(static_cast<int>(fd), F_GETFD);
  return fmt::format("fd {} data {} ino {} cloexec {}", fd, data,
                     stat_rc == 0 ? std::to_string(st.st_ino) : "?",
                     flags < 0              ? "?"
                     : (flags & FD_CLOEXEC) ? "yes"
                                            : "no");
}

TEST(SeccompNotify, AddFdInstallsIntoTarget) {
  // Source: seccomp_unotify(2) SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9: the ioctl returns the fd
  // number in the target) and SECCOMP_ADDFD_FLAG_SEND (Linux 5.14: add the fd and answer the
  // call with its number, atomically); seccomp_filter.rst "Userspace Notification".
  // Where the kernel has ADDFD but not SEND (5.9 - 5.13) the row passes on the ADDFD part and
  // records the SEND part as skipped in the property "send-part" (one TEST per row; the row's
  // first kernel is ADDFD's); without ADDFD it skips naming the ioctl.
  // Negative control: a kernel before 5.9 answers the ioctl with EINVAL (skip); an fd number
  // the target did not get, or a file other than the supervisor's, fails the row.
  CKC_BEHAVIOUR("seccomp.notif-addfd", "K",
                "a supervisor can place a copy of one of its own file descriptors into the target "
                "of a notification, learning the number it got there; with the send flag that "
                "number is also what the intercepted call returns",
                "5.9");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"), UserNotification());
  ASSERT_OK_AND_ASSIGN(bool has_addfd, ProbeNotifyFeature(NotifyFeature::kAddFd));
  CKC_REQUIRE(Has(NotifyFeature::kAddFd, has_addfd));
  ASSERT_OK_AND_ASSIGN(bool has_send, ProbeNotifyFeature(NotifyFeature::kAddFdSend));
  RecordProperty("send-part", has_send ? "run" : "skipped: kernel:SECCOMP_ADDFD_FLAG_SEND");

  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create(TestDir() + "/addfd"));
  ASSERT_OK(WriteFileAtomic(dir / "payload", "from the supervisor"));
  ASSERT_OK_AND_ASSIGN(UniqueFd payload, OpenFile(dir / "payload", O_RDONLY));
  struct stat st {};
  ASSERT_EQ(::fstat(payload.get(), &st), 0);
  std::string mine = fmt::format("data from the supervisor ino {}", st.st_ino);

  ASSERT_OK_AND_ASSIGN(Target t, StartTarget(SCMP_SYS(getppid), [&](Channel& ch) {
                         Observe(ch, "plain", DescribeInstalledFd(::syscall(SYS_getppid)));
                         Observe(ch, "send", DescribeInstalledFd(::syscall(SYS_getppid)));
                       }));
  // First call: install the fd (close-on-exec), then answer with its number ourselves.
  ASSERT_OK_AND_ASSIGN(Notification first, ReceiveNotification(t.listener.get(), kNotifyTimeout));
  auto plain = AddFd(t.listener.get(), first.id, payload.get(), {.cloexec = true});
  EXPECT_THAT(plain, IsOk()) << "SECCOMP_IOCTL_NOTIF_ADDFD";
  ASSERT_OK(Respond(t.listener.get(), first.id, {.val = plain.value_or(-1), .error = 0}));
  // Second call: add-and-answer in one step where the kernel has it.
  ASSERT_OK_AND_ASSIGN(Notification second, ReceiveNotification(t.listener.get(), kNotifyTimeout));
  Result<int> sent = -1;
  if (has_send) {
    sent = AddFd(t.listener.get(), second.id, payload.get(), {.send = true});
    EXPECT_THAT(sent, IsOk()) << "SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND";
  } else {
    ASSERT_OK(Respond(t.listener.get(), second.id, {.val = 0, .error = ENOTSUP}));
  }
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(t.box.child, t.box.channel, kNotifyTimeout));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(seen["plain"], fmt::format("fd {} {} cloexec yes", *plain, mine))
      << "the target holds the supervisor's file at the number ADDFD returned";
  if (has_send) {
    ASSERT_TRUE(sent.has_value());
    EXPECT_NE(*sent, *plain) << "a second fd gets a number of its own";
    EXPECT_EQ(seen["send"], fmt::format("fd {} {} cloexec no", *sent, mine))
        << "with SECCOMP_ADDFD_FLAG_SEND the call returns the installed fd's number";
  }
}

long Uname() {
  struct utsname u {};
  return ::uname(&u);
}

std::string Nodename() {
  struct utsname u {};
  if (::uname(&u) != 0) return "!" + ErrnoName(errno);
  return u.nodename;
}

// SECCOMP_GET_ACTION_AVAIL as a requirement for one action.
Requirement Action(uint32_t action, std::string_view name) {
  return {[=]() -> std::optional<std::string> {
    auto has = ActionAvailable(action);
    if (!has) return "kernel:SECCOMP_GET_ACTION_AVAIL (" + has.error().Message() + ")";
    if (!*has) return fmt::format("kernel:{} (not available)", name);
    return std::nullopt;
  }};
}

Requirement FileExists(std::string path, std::string reason) {
  return {[=]() -> std::optional<std::string> {
    if (Exists(path)) return std::nullopt;
    return reason + " (" + path + " is missing)";
  }};
}

TEST(SeccompAction, LogLetsTheCallRun) {
  // Source: seccomp(2) SECCOMP_RET_LOG ("the system call is allowed to run after the action is
  // logged", Linux 4.14) and /proc/sys/kernel/seccomp/actions_avail ("a read-only ordered list
  // of seccomp filter return actions in string form"); SECCOMP_GET_ACTION_AVAIL.
  // Negative control: a kernel without SECCOMP_RET_LOG skips naming it; a filter that is not in
  // force would let getppid through (checked), an action run instead of logged fails uname.
  CKC_BEHAVIOUR("seccomp.log-action", "K",
                "a filter rule whose action is log lets the matching call go through unchanged, "
                "and /proc/sys/kernel/seccomp/actions_avail names exactly the actions the kernel "
                "supports");
  constexpr const char* kAvail = "/proc/sys/kernel/seccomp/actions_avail";
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"), FileExists(kAvail, "kernel:seccomp-actions_avail"),
              Action(SECCOMP_RET_LOG, "SECCOMP_RET_LOG"));
  std::string nodename = Nodename();
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         CKC_CHILD_TRY(f, SeccompFilter::Create(SCMP_ACT_ALLOW));
                         CKC_CHILD_CHECK(f.Add(SCMP_ACT_LOG, SCMP_SYS(uname)));
                         CKC_CHILD_CHECK(f.Add(SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(getppid)));
                         CKC_CHILD_CHECK(f.Load());
                         Observe(ch, "uname", Outcome(Uname()));
                         Observe(ch, "nodename", Nodename());
                         Observe(ch, "getppid", Outcome(::syscall(SYS_getppid)));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["uname"], "ok") << "uname() under SCMP_ACT_LOG runs";
  EXPECT_EQ(seen["nodename"], nodename) << "and returns the real answer";
  EXPECT_EQ(seen["getppid"], "!ENOMSG") << "control: the same filter is in force";

  ASSERT_OK_AND_ASSIGN(std::string avail, ReadFile(kAvail));
  RecordProperty("actions_avail", avail);
  RecordProperty("actions_logged",
                 ReadFile("/proc/sys/kernel/seccomp/actions_logged").value_or("?"));
  std::string words = " " + avail.substr(0, avail.find_last_not_of(" \n") + 1) + " ";
  EXPECT_THAT(words, HasSubstr(" log ")) << "actions_avail lists log";
  for (const NamedAction& a : KnownSeccompActions()) {
    ASSERT_OK_AND_ASSIGN(bool has, ActionAvailable(a.action));
    EXPECT_EQ(words.find(fmt::format(" {} ", a.name)) != std::string::npos, has)
        << a.name << ": actions_avail (\"" << avail << "\") must list it iff "
        << "SECCOMP_GET_ACTION_AVAIL says the kernel has it (" << (has ? "yes" : "no") << ")";
  }
}

// What a thread that started before any filter saw, in two rounds.
struct ThreadView {
  std::string mode_before, getppid_before;             // after the main thread's own filter
  std::string mode_after, getppid_after, uname_after;  // after the TSYNC filter
};

int SyncedFilterChild(Channel& ch) {
  std::binary_semaphore go{0}, done{0};
  ThreadView view;
  std::thread early([&] {
    go.acquire();
    view.mode_before = std::to_string(SeccompMode());
    view.getppid_before = Outcome(::syscall(SYS_getppid));
    done.release();
    go.acquire();
    view.mode_after = std::to_string(SeccompMode());
    view.getppid_after = Outcome(::syscall(SYS_getppid));
    view.uname_after = Outcome(Uname());
    done.release();
  });
  // A filter of the main thread alone: the early thread must not get it.
  auto own = SeccompFilter::Create(SCMP_ACT_ALLOW);
  Status st = own ? own->Add(SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(getppid)) : Propagate(own.error());
  if (st) st = own->Load();
  Observe(ch, "main-getppid",
          st ? Outcome(::syscall(SYS_getppid)) : "setup: " + st.error().Message());
  go.release();
  done.acquire();
  Status synced =
      LoadFilterOnAllThreads(SCMP_ACT_ALLOW, {{SCMP_ACT_ERRNO(EKEYREJECTED), SCMP_SYS(uname)}});
  Observe(ch, "tsync-load", synced ? "ok" : synced.error().Message());
  go.release();
  done.acquire();
  early.join();
  Observe(ch, "thread-mode-before", view.mode_before);
  Observe(ch, "thread-getppid-before", view.getppid_before);
  Observe(ch, "thread-mode-after", view.mode_after);
  Observe(ch, "thread-getppid-after", view.getppid_after);
  Observe(ch, "thread-uname-after", view.uname_after);
  Observe(ch, "main-uname", Outcome(Uname()));
  return 0;
}

TEST(SeccompFilter, TsyncCoversEarlierThreads) {
  // Source: seccomp(2) SECCOMP_FILTER_FLAG_TSYNC ("synchronize all other threads of the calling
  // process to the same seccomp filter tree"; without it a filter applies to the calling thread
  // only); libseccomp's SCMP_FLTATR_CTL_TSYNC.
  // Negative control: the main thread's first filter, loaded without TSYNC, must not reach the
  // early thread (checked); a kernel that could not synchronise fails the load with ESRCH.
  CKC_BEHAVIOUR("seccomp.tsync", "K",
                "a filter loaded with the thread-sync flag is put on every thread of the process, "
                "threads started before it included, together with the loader's earlier filters");
  CKC_REQUIRE(Config("CONFIG_SECCOMP_FILTER"));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild(SyncedFilterChild));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  CKC_ASSERT_SETUP(seen["main-getppid"] == "!ENOMSG")
      << "the main thread's own filter answers getppid with ENOMSG: saw " << seen["main-getppid"];
  EXPECT_EQ(seen["thread-mode-before"], "0") << "a filter without TSYNC stays on its thread";
  EXPECT_EQ(seen["thread-getppid-before"], "ok");
  EXPECT_EQ(seen["tsync-load"], "ok") << "seccomp_load with SCMP_FLTATR_CTL_TSYNC";
  EXPECT_EQ(seen["thread-mode-after"], "2") << "PR_GET_SECCOMP of the early thread";
  EXPECT_EQ(seen["thread-uname-after"], "!EKEYREJECTED") << "the synchronised filter";
  EXPECT_EQ(seen["thread-getppid-after"], "!ENOMSG")
      << "the early thread takes the loader's whole filter tree, its earlier filter included";
  EXPECT_EQ(seen["main-uname"], "!EKEYREJECTED");
}

}  // namespace
}  // namespace ckc::test
