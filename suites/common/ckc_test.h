// Test support for ckc suites: catalogue rows, requirements, errno matchers, child helpers.
//
//   TEST(UtsNamespace, HostnameIsolated) {
//     // Source: D "Demonstrating our uts namespace"; uts_namespaces(7).
//     CKC_BEHAVIOUR("uts.hostname-isolated", "D",
//                   "sethostname() in a new uts namespace renames only that namespace");
//     CKC_REQUIRE(Root(), NamespaceType(NsType::kUts));
//     EXPECT_THAT(sethostname("x", 1), SyscallSucceeds());
//     EXPECT_THAT(ForkInNs(), FailsWith(ENOMEM));        // Result<T> matcher
//   }
//
// Only requirements skip, and only before the behaviour under test runs; the skip message starts
// with a machine-readable reason ("needs:root", "config:CONFIG_X", ...).
//
// Verdicts (BEHAVIOURS.md "Outcome rules"): an EXPECT/ASSERT on the behaviour that fails is `fail`
// (the kernel did something else). A step before the behaviour that fails in a way no requirement
// foresaw is `broken`: ASSERT_OK / ASSERT_OK_AND_ASSIGN on a setup Result, CKC_ASSERT_SETUP(cond),
// a child that reported "setup: ..." (CKC_CHILD_TRY) — all end in Broken(), which the results
// listener reports as outcome "broken", reason "setup". A setup step that failed with ENOSPC while
// making namespaces whose user.max_<type>_namespaces is 0 is that requirement failing: a skip.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "channel.h"
#include "kernel.h"
#include "namespaces.h"
#include "process.h"
#include "result.h"
#include "run_scope.h"
#include "sandbox.h"

namespace ckc::test {

// A catalogue row, declared by the test that checks it: the one place its ID, sentence, source
// and first kernel live. `ckc catalogue` reads these declarations out of the sources (so a
// clone needs no other list), and the results file carries them, so a report built from
// results alone still has its sentences.
//   id:       "ns.proc-links" (a literal, so `grep '"ns.proc-links"'` finds its test)
//   source:   "D", "F" (the two source documents) or "K" (kernel documentation, man pages)
//   sentence: what the kernel is documented to do, in this project's words
//   since:    the first kernel with the interface ("5.14"), for people; "" when the row has none
struct Row {
  const char* id;
  const char* source;
  const char* sentence;
  const char* since = "";
};

// Declares the running test's catalogue row: CKC_BEHAVIOUR(id, source, sentence[, since]).
// The row is recorded as test properties and written to the results file at once, so a test
// that then crashes its process still names its row.
#define CKC_BEHAVIOUR(...)                                          \
  do {                                                              \
    static constexpr ::ckc::test::Row ckc_row_{__VA_ARGS__};        \
    ::testing::Test::RecordProperty("behaviour", ckc_row_.id);      \
    ::testing::Test::RecordProperty("source", ckc_row_.source);     \
    ::testing::Test::RecordProperty("sentence", ckc_row_.sentence); \
    ::testing::Test::RecordProperty("since", ckc_row_.since);       \
    ::ckc::test::NoteBehaviour(ckc_row_);                           \
  } while (0)

// Records the running test's row in the results file, if one is being written.
void NoteBehaviour(const Row& row);

// A requirement probes the kernel or machine; an unmet one yields a skip reason
// ("needs:root: ..."), a met one nullopt.
struct Requirement {
  std::function<std::optional<std::string>()> probe;
};

Requirement Root();                      // needs:root — euid 0 with CAP_SYS_ADMIN
Requirement NotRoot();                   // needs:non-root (rows about unprivileged callers)
Requirement Config(std::string option);  // config:CONFIG_X, when the config is known
Requirement NamespaceType(NsType type);  // kernel:<type>-namespace
Requirement UnprivilegedUserns();        // sysctl:user.max_user_namespaces / ...
// needs:swap — a swap device, with at least `min_free_bytes` of it free.
Requirement Swap(uint64_t min_free_bytes = 0);
// The namespace-count limits let the caller make the namespaces of `clone_flags` (CLONE_NEW*),
// `count` of each type: sysctl:user.max_<type>_namespaces when that limit (of the caller's user
// namespace) is below it (0 for one). A row about a limit requires only the ones it does not test.
Requirement NamespaceQuota(uint64_t clone_flags, uint64_t count = 1);
Requirement Command(std::string path);  // setup:missing-<path>
// Root, or else what a row needs to run unprivileged through a user namespace of its own
// (pair with Sandbox::UserNsUnlessRoot()): /proc/self/ns/user and no sysctl forbidding it.
Requirement RootOrUserns();
// A cgroup controller (v2 names: "memory", "io", "cpu", "pids", "freezer", "net_cls"...) served by
// a v1 hierarchy or listed in the cgroup2 root: controller:<name>, config:CONFIG_X when the config
// says it is compiled out (CONFIG_MEMCG_V1), cmdline:cgroup_disable=<name> when the kernel was
// booted with it off, cgroup-mode:v2-has-no-<name>, or
// cgroup-mode:[hybrid-]root-lacks-<name> when the host has not enabled it at its cgroup2 root
// (ckc never writes the host's root).
Requirement Controller(std::string name);
// Rows of one cgroup version: `controller` must be served by v<version>, else
// cgroup-mode:<reason> (e.g. "v2-has-no-memsw"), or config:CONFIG_X if v1 is compiled out.
Requirement ServedByCgroupVersion(std::string controller, int version, std::string reason);

// The first unmet requirement's reason, or nullopt.
std::optional<std::string> Unmet(std::initializer_list<Requirement> requirements);

#define CKC_REQUIRE(...)                                                      \
  do {                                                                        \
    if (auto why_ = ::ckc::test::Unmet({__VA_ARGS__})) GTEST_SKIP() << *why_; \
  } while (0)

// --- verdicts ------------------------------------------------------------------------------

// Marks the running test broken at file:line: `step` ("setup: clone3(`flags=0x20000000`): EPERM
// (...)") failed before the behaviour ran. Records the first mark as the properties "broken" (the
// step) and "broken_at" (how many result parts came before it), then adds a fatal failure; the
// caller returns. The listener reports "broken" only if no failure came before the mark.
void Broken(std::string_view step, const char* file, int line);
// A setup step failed with `failure` (an Error's message): skips with the namespace-count
// requirement it reveals (NamespaceQuotaReason), else Broken("setup: " + failure).
void SetupFailed(std::string_view failure, const char* file, int line);
inline void SetupFailed(const Error& error, const char* file, int line) {
  SetupFailed(error.Message(), file, line);
}
// For a failure text with ENOSPC from making namespaces (clone3, unshare; the CLONE_NEW* flags
// read from the text, all types when it names none): "sysctl:user.max_<type>_namespaces (...)"
// for the first such type whose limit is 0, else nullopt.
std::optional<std::string> NamespaceQuotaReason(std::string_view failure);

// CKC_ASSERT_SETUP(cond) << "what": a setup condition; when false the test is Broken().
struct BrokenAt {
  const char* file;
  int line;
  const char* condition;
  void operator=(const ::testing::Message& message) const;
};
#define CKC_ASSERT_SETUP(cond) \
  switch (0)                   \
  case 0:                      \
  default:                     \
    if (cond)                  \
      ;                        \
    else                       \
      return ::ckc::test::BrokenAt{__FILE__, __LINE__, #cond} = ::testing::Message()

// --- matchers ------------------------------------------------------------------------------

// For raw system calls: the return value is checked and errno read at once.
MATCHER(SyscallSucceeds, "succeeds") {
  int saved = errno;
  if (arg >= 0) return true;
  *result_listener << "failed with " << ErrnoName(saved);
  return false;
}

MATCHER_P(SyscallFailsWith, err, std::string("fails with ") + ErrnoName(err)) {
  int saved = errno;
  if (arg >= 0) {
    *result_listener << "succeeded (returned " << arg << ")";
    return false;
  }
  if (saved == err) return true;
  *result_listener << "failed with " << ErrnoName(saved);
  return false;
}

// For Result<T> / Status.
MATCHER(IsOk, "succeeds") {
  if (arg.has_value()) return true;
  *result_listener << "failed: " << arg.error().Message();
  return false;
}

MATCHER_P(FailsWith, err, std::string("fails with ") + ErrnoName(err)) {
  if (arg.has_value()) {
    *result_listener << "succeeded";
    return false;
  }
  if (arg.error().err == err) return true;
  *result_listener << "failed: " << arg.error().Message();
  return false;
}

// Unwraps a setup step's Result in a test; on error the test is SetupFailed() (broken, or a skip
// for a namespace-count limit) and returns.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                                     \
  auto CKC_CONCAT_(r_, __LINE__) = (expr);                                                  \
  if (!CKC_CONCAT_(r_, __LINE__).has_value())                                               \
    return ::ckc::test::SetupFailed(CKC_CONCAT_(r_, __LINE__).error(), __FILE__, __LINE__); \
  lhs = std::move(*CKC_CONCAT_(r_, __LINE__))
#define ASSERT_OK(expr)                                                                     \
  do {                                                                                      \
    auto st_ = (expr);                                                                      \
    if (!st_.has_value()) return ::ckc::test::SetupFailed(st_.error(), __FILE__, __LINE__); \
  } while (0)
#define CKC_CONCAT_INNER_(a, b) a##b
#define CKC_CONCAT_(a, b) CKC_CONCAT_INNER_(a, b)

// The overflow / nobody id (65534) the rows map to or switch to as an unprivileged user.
inline constexpr uid_t kNobody = 65534;

// --- children ------------------------------------------------------------------------------

// What a child run by RunInChild did: its exit status and the messages it reported.
struct ChildResult {
  ExitStatus status;
  std::vector<std::string> reports;  // messages the child sent through its channel
  // "exited with 1; reports: sethostname: EPERM"
  [[nodiscard]] std::string Describe() const;
  // The child's broken setup step: its first "setup: ..." report (without the prefix) when it
  // exited with a non-zero code (CKC_CHILD_TRY/CHECK: 2), else nullopt.
  [[nodiscard]] std::optional<std::string> SetupFailure() const;
};

// Runs `fn` in a child (clone3 with `clone_flags`), collecting what it sends on the channel
// until it exits; the child is killed after `timeout`. Like RunInSandbox and Collect, a child
// whose setup broke (ChildResult::SetupFailure) is returned as an error "child setup(`pid N`)",
// so ASSERT_OK_AND_ASSIGN makes the test broken (or skips it for a namespace-count limit).
Result<ChildResult> RunInChild(const std::function<int(Channel&)>& fn, uint64_t clone_flags = 0,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Runs `fn` in `box` (see Sandbox::Run) and collects its reports like RunInChild. A setup step
// that failed in the child is returned as an error.
Result<ChildResult> RunInSandbox(const Sandbox& box, const std::function<int(Channel&)>& fn,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Collects what a running child sends until its channel closes (it and its descendants are
// gone), then waits for it; killed once `timeout` has passed.
Result<ChildResult> Collect(Child& child, Channel& ch,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));

// In a child: sends "<what>: <ERRNO>" and returns `code` (for `return ReportErrno(ch, ...)`).
int ReportErrno(Channel& ch, std::string_view what, int code = 1);
// In a child: sends `message` and returns `code`.
int Report(Channel& ch, std::string_view message, int code = 1);

// "key=value" observations: a child reports what it saw with Observe(ch, "key", value) and the
// parent asserts on Parse(result)["key"] (the last value of a key wins).
using Observations = std::map<std::string, std::string>;
void Observe(Channel& ch, std::string_view key, std::string_view value);
Observations Parse(const ChildResult& result);
// For observing raw calls: "ok" if `rc` >= 0, else "!ERRNO" (errno read at once).
std::string Outcome(long rc);

// The run's state directory (a per-test subdirectory is made by TestDir()).
std::string TestDir();

}  // namespace ckc::test

// In a child: binds `var` to the value of a Result, or reports "setup: <error>" on `ch` and
// returns 2; Collect turns that into an error, so the test is broken, not failed.
#define CKC_CHILD_TRY(var, expr)                                                            \
  auto var##_r_ = (expr);                                                                   \
  if (!var##_r_) return ::ckc::test::Report(ch, "setup: " + var##_r_.error().Message(), 2); \
  auto var = std::move(*var##_r_)
#define CKC_CHILD_CHECK(expr)                                               \
  do {                                                                      \
    if (auto st_ = (expr); !st_)                                            \
      return ::ckc::test::Report(ch, "setup: " + st_.error().Message(), 2); \
  } while (0)
