// Fixture tests for verdict_test.cpp: each ends in one known verdict, so the checker can run this
// binary with --ckc-results and read what the results listener made of them. ctest never runs
// these directly (most of them fail on purpose).
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ckc_test.h"
#include "fd.h"

namespace ckc::test {
namespace {

Status FailedStep(int err, std::string_view operation, std::string_view argument) {
  errno = err;
  return ErrnoError(operation, argument);
}

TEST(Verdict, Pass) { EXPECT_EQ(1 + 1, 2); }

TEST(Verdict, SetupErrorIsBroken) {
  ASSERT_OK(FailedStep(EPERM, "clone3", "flags=0x4000000"));
  ADD_FAILURE() << "not reached";
}

TEST(Verdict, ExpectationFailureIsFail) { EXPECT_EQ(1 + 1, 3) << "the kernel did something else"; }

TEST(Verdict, RequirementIsSkip) {
  Requirement fixture{[]() -> std::optional<std::string> { return "needs:root (fixture)"; }};
  CKC_REQUIRE(fixture);
  ADD_FAILURE() << "not reached";
}

TEST(Verdict, FailureBeforeBrokenIsFail) {
  EXPECT_TRUE(false) << "the behaviour's expectation failed first";
  ASSERT_OK(FailedStep(EIO, "read", "/fixture"));
}

TEST(Verdict, ChildSetupIsBroken) {
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([](Channel& ch) {
                         CKC_CHILD_CHECK(FailedStep(EACCES, "mount", "/fixture"));
                         return 0;
                       }));
  ADD_FAILURE() << "not reached: " << r.Describe();
}

TEST(Verdict, SetupConditionIsBroken) {
  CKC_ASSERT_SETUP(1 + 1 == 3) << "the fixture's precondition";
  ADD_FAILURE() << "not reached";
}

// Alone in its process (it leaves the process in a user namespace of its own): there, with
// user.max_uts_namespaces 0, making a uts namespace fails with ENOSPC, and the test skips naming
// the sysctl instead of breaking. The host's limits are untouched (they are per user namespace).
TEST(VerdictQuota, NamespaceLimitIsSkip) {
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWUSER) != 0) GTEST_SKIP() << "needs:userns (unshare: " << errno << ")";
  for (auto [file, text] : {std::pair{"/proc/self/setgroups", std::string("deny")},
                            std::pair{"/proc/self/uid_map", fmt::format("0 {} 1", uid)},
                            std::pair{"/proc/self/gid_map", fmt::format("0 {} 1", gid)},
                            std::pair{"/proc/sys/user/max_uts_namespaces", std::string("0")}}) {
    if (auto st = WriteFile(file, text); !st)
      GTEST_SKIP() << "needs:userns " << st.error().Message();
  }
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({.flags = CLONE_NEWUTS}, [] { return 0; }));
  ADD_FAILURE() << "clone3(CLONE_NEWUTS) succeeded with user.max_uts_namespaces 0";
}

}  // namespace
}  // namespace ckc::test
